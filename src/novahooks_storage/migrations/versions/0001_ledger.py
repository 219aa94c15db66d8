"""The storage ledger: instances, mappings per phase, volumes.

Revision ID: 0001
Revises:
"""

from alembic import op
import sqlalchemy as sa

revision = '0001'
down_revision = None


def upgrade() -> None:
    op.create_table(
        'storage_instances',
        sa.Column('uuid', sa.String(36), primary_key=True),
        sa.Column('project_id', sa.String(64), index=True),
        sa.Column('host', sa.String(255)),
        sa.Column('state', sa.String(16), nullable=False),
        sa.Column('requested_at', sa.DateTime),
        sa.Column('built_at', sa.DateTime),
        sa.Column('deleted_at', sa.DateTime))
    op.create_table(
        'storage_mappings',
        sa.Column('instance_uuid', sa.String(36), primary_key=True),
        sa.Column('phase', sa.String(16), primary_key=True),
        sa.Column('position', sa.Integer, primary_key=True),
        sa.Column('source_type', sa.String(16)),
        sa.Column('destination_type', sa.String(16)),
        sa.Column('boot_index', sa.Integer),
        sa.Column('device_name', sa.String(255)),
        sa.Column('device_type', sa.String(32)),
        sa.Column('disk_bus', sa.String(32)),
        sa.Column('guest_format', sa.String(32)),
        sa.Column('volume_id', sa.String(36), index=True),
        sa.Column('snapshot_id', sa.String(36)),
        sa.Column('image_id', sa.String(36)),
        sa.Column('volume_size', sa.Integer),
        sa.Column('volume_type', sa.String(255)),
        sa.Column('attachment_id', sa.String(36)),
        sa.Column('bdm_uuid', sa.String(36)),
        sa.Column('delete_on_termination', sa.Boolean),
        sa.Column('tag', sa.String(255)),
        sa.Column('recorded_at', sa.DateTime, nullable=False))
    op.create_table(
        'storage_volumes',
        sa.Column('volume_id', sa.String(36), primary_key=True),
        sa.Column('instance_uuid', sa.String(36), primary_key=True),
        sa.Column('project_id', sa.String(64), index=True),
        sa.Column('size_gb', sa.Integer),
        sa.Column('volume_type', sa.String(255)),
        sa.Column('delete_on_termination', sa.Boolean),
        sa.Column('fate', sa.String(24), nullable=False),
        sa.Column('attached_at', sa.DateTime),
        sa.Column('fate_at', sa.DateTime))
