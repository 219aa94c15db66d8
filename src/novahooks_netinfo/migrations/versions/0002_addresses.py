"""Fixed IPs of every instance's current cache (duplicate detection).

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'


def upgrade() -> None:
    op.create_table(
        'netinfo_addresses',
        sa.Column('uuid', sa.String(36), primary_key=True),
        sa.Column('network_id', sa.String(36), primary_key=True),
        sa.Column('address', sa.String(64), primary_key=True, index=True))
