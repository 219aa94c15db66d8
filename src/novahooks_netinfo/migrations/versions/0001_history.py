"""The netinfo history: state per instance, events and anomalies.

Revision ID: 0001
Revises:
"""

from alembic import op
import sqlalchemy as sa

revision = '0001'
down_revision = None


def upgrade() -> None:
    op.create_table(
        'netinfo_state',
        sa.Column('uuid', sa.String(36), primary_key=True),
        sa.Column('fingerprint', sa.String(40), nullable=False),
        sa.Column('network_json', sa.Text, nullable=False),
        sa.Column('last_good_json', sa.Text),
        sa.Column('emptied_alerted', sa.Boolean, nullable=False),
        sa.Column('updated_at', sa.DateTime, nullable=False))
    op.create_table(
        'netinfo_events',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('uuid', sa.String(36), nullable=False, index=True),
        sa.Column('at', sa.DateTime, nullable=False, index=True),
        sa.Column('kind', sa.String(32), nullable=False),
        sa.Column('anomaly', sa.Boolean, nullable=False),
        sa.Column('vif_id', sa.String(36)),
        sa.Column('detail', sa.String(500), nullable=False))
