"""Bring a ledger database to the newest schema (Alembic)."""

import os
from typing import Any

from novahooks_core.state import db

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       'migrations')


def upgrade(engine: Any) -> None:
    """Upgrade to head; safe when several processes start at once."""
    db.upgrade(engine, SCRIPTS, 'storage_alembic_version')
