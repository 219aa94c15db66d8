"""Each instance's last known network info, to merge a source that does
not carry everything (a notification has no floating IP) with what is
known, instead of reading what it lacks as removed.

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'


def upgrade() -> None:
    op.add_column('dns_instances', sa.Column('network_json', sa.Text))
