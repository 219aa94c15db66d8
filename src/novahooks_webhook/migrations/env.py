"""Alembic environment: see novahooks_core.state.db.upgrade."""

from novahooks_core.state.db import alembic_env

alembic_env()
