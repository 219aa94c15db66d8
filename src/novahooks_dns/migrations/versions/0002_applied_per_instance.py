"""Applied records are owned per instance: the instance joins the key.

Without it a record that two instances held (a reused address or name)
moved from one to the other, and the old instance's delete took it from
the new one.

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'


def upgrade() -> None:
    op.create_table(
        'dns_applied_v2',
        sa.Column('zone', sa.String(255), primary_key=True),
        sa.Column('name', sa.String(255), primary_key=True),
        sa.Column('rtype', sa.String(8), primary_key=True),
        sa.Column('value', sa.String(255), primary_key=True),
        sa.Column('instance_uuid', sa.String(36), primary_key=True),
        sa.Column('ttl', sa.Integer, nullable=False),
        sa.Column('applied_at', sa.DateTime, nullable=False))
    op.execute(
        'INSERT INTO dns_applied_v2 (zone, name, rtype, value, '
        'instance_uuid, ttl, applied_at) SELECT zone, name, rtype, value, '
        'instance_uuid, ttl, applied_at FROM dns_applied')
    op.drop_table('dns_applied')
    op.rename_table('dns_applied_v2', 'dns_applied')
    op.create_index('ix_dns_applied_instance_uuid', 'dns_applied',
                    ['instance_uuid'])
