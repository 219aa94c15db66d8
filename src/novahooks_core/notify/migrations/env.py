"""Alembic environment: see novahooks_core.db.upgrade."""

from novahooks_core.db import alembic_env

alembic_env()
