"""Bring a ledger database to the newest schema (Alembic)."""

import os
import time
from typing import Any

from alembic import command
from alembic.config import Config

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       'migrations')


def upgrade(engine: Any) -> None:
    """Upgrade to head; safe when several processes start at once."""
    config = Config()
    config.set_main_option('script_location', SCRIPTS)
    for attempt in range(5):
        try:
            with engine.begin() as conn:
                config.attributes['connection'] = conn
                command.upgrade(config, 'head')
            return
        except Exception:
            # Another process created the tables first: its version row is
            # visible on the next try, which then has nothing to do.
            if attempt == 4:
                raise
            time.sleep(0.1 * (attempt + 1))
