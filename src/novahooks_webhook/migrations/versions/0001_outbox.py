"""The webhook state: the merged view per instance, the outbox (one row
per event and endpoint) and endpoints disabled by a 410.

Revision ID: 0001
Revises:
"""

from alembic import op
import sqlalchemy as sa

revision = '0001'
down_revision = None


def upgrade() -> None:
    op.create_table(
        'webhook_instances',
        sa.Column('uuid', sa.String(36), primary_key=True),
        sa.Column('view_json', sa.Text, nullable=False),
        sa.Column('network_json', sa.Text),
        sa.Column('sequence', sa.Integer, nullable=False),
        sa.Column('deleted_at', sa.DateTime),
        sa.Column('updated_at', sa.DateTime, nullable=False))
    op.create_table(
        'webhook_outbox',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('endpoint', sa.String(255), nullable=False),
        sa.Column('instance_uuid', sa.String(36), nullable=False),
        sa.Column('sequence', sa.Integer, nullable=False),
        sa.Column('event_id', sa.String(64), nullable=False),
        sa.Column('event_type', sa.String(255), nullable=False),
        sa.Column('body', sa.Text, nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('attempts', sa.Integer, nullable=False),
        sa.Column('created_at', sa.DateTime, nullable=False),
        sa.Column('next_at', sa.DateTime, nullable=False),
        sa.Column('done_at', sa.DateTime),
        sa.Column('last_error', sa.String(255)),
        sa.UniqueConstraint('endpoint', 'event_id'))
    op.create_index('webhook_outbox_queue', 'webhook_outbox',
                    ['endpoint', 'status', 'instance_uuid', 'sequence'])
    op.create_table(
        'webhook_endpoints',
        sa.Column('name', sa.String(255), primary_key=True),
        sa.Column('disabled_at', sa.DateTime),
        sa.Column('reason', sa.String(255)))
