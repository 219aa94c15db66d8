"""The listener's order guard: an instance lock row and, per instance and
plugin, the newest notification applied and the tombstone.

Revision ID: 0001
Revises:
"""

from alembic import op
import sqlalchemy as sa

revision = '0001'
down_revision = None


def upgrade() -> None:
    op.create_table(
        'listen_instances',
        sa.Column('uuid', sa.String(36), primary_key=True),
        sa.Column('created_at', sa.DateTime, nullable=False),
        sa.Column('deleted_at', sa.DateTime))
    op.create_table(
        'listen_marks',
        sa.Column('uuid', sa.String(36), primary_key=True),
        sa.Column('plugin', sa.String(64), primary_key=True),
        sa.Column('updated_at', sa.DateTime),
        sa.Column('sent_at', sa.DateTime),
        sa.Column('message_id', sa.String(64)),
        sa.Column('event_type', sa.String(64), nullable=False),
        sa.Column('deleted_at', sa.DateTime, index=True),
        sa.Column('applied_at', sa.DateTime, nullable=False))
