"""Index volumes by instance (the delete path looks them up so).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = '0002'
down_revision = '0001'


def upgrade() -> None:
    op.create_index('ix_storage_volumes_instance_uuid', 'storage_volumes',
                    ['instance_uuid'])
