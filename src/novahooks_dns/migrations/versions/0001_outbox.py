"""The DNS plugin's state: outbox, applied records, instances.

Revision ID: 0001
Revises:
"""

from alembic import op
import sqlalchemy as sa

revision = '0001'
down_revision = None


def upgrade() -> None:
    op.create_table(
        'dns_outbox',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('instance_uuid', sa.String(36), nullable=False,
                  index=True),
        sa.Column('op', sa.String(6), nullable=False),
        sa.Column('zone', sa.String(255), nullable=False),
        sa.Column('name', sa.String(255), nullable=False),
        sa.Column('rtype', sa.String(8), nullable=False),
        sa.Column('value', sa.String(255), nullable=False),
        sa.Column('ttl', sa.Integer, nullable=False),
        sa.Column('created_at', sa.DateTime, nullable=False),
        sa.Column('attempts', sa.Integer, nullable=False),
        sa.Column('next_attempt_at', sa.DateTime, nullable=False,
                  index=True),
        sa.Column('last_error', sa.String(500)),
        sa.Column('claimed_by', sa.String(36)),
        sa.Column('claimed_until', sa.DateTime),
        sqlite_autoincrement=True)
    op.create_table(
        'dns_applied',
        sa.Column('zone', sa.String(255), primary_key=True),
        sa.Column('name', sa.String(255), primary_key=True),
        sa.Column('rtype', sa.String(8), primary_key=True),
        sa.Column('value', sa.String(255), primary_key=True),
        sa.Column('ttl', sa.Integer, nullable=False),
        sa.Column('instance_uuid', sa.String(36), nullable=False,
                  index=True),
        sa.Column('applied_at', sa.DateTime, nullable=False))
    op.create_table(
        'dns_instances',
        sa.Column('uuid', sa.String(36), primary_key=True),
        sa.Column('name', sa.String(255)),
        sa.Column('project_id', sa.String(64)),
        sa.Column('created_at', sa.DateTime, nullable=False),
        sa.Column('deleted_at', sa.DateTime))
