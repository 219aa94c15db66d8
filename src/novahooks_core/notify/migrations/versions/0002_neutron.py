"""Neutron's floating IPs and ports as last told, and each instance's
newest Nova notification (``[listen] neutron``).

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'


def upgrade() -> None:
    op.create_table(
        'listen_facts',
        sa.Column('kind', sa.String(16), primary_key=True),
        sa.Column('id', sa.String(64), primary_key=True),
        sa.Column('revision', sa.Integer),
        sa.Column('updated_at', sa.DateTime),
        sa.Column('deleted', sa.Boolean, nullable=False),
        sa.Column('address', sa.String(64)),
        sa.Column('port_id', sa.String(64)),
        sa.Column('fixed_ip', sa.String(64)),
        sa.Column('device_id', sa.String(64)),
        sa.Column('device_owner', sa.String(255)),
        sa.Column('refresh', sa.Text),
        sa.Column('applied_at', sa.DateTime))
    op.create_index('ix_listen_facts_port_id', 'listen_facts', ['port_id'])
    op.create_index('ix_listen_facts_device_id', 'listen_facts',
                    ['device_id'])
    op.create_table(
        'listen_snapshots',
        sa.Column('uuid', sa.String(36), primary_key=True),
        sa.Column('updated_at', sa.DateTime),
        sa.Column('sent_at', sa.DateTime),
        sa.Column('record', sa.Text, nullable=False))
