"""Moved to :mod:`novahooks_core.state.db`
(the state mechanisms: ``novahooks_core/state/``).

This old path keeps working, as the very same module object (its
state is not copied, and monkeypatching either path patches both),
and will be removed in a later release: import the new one.
"""

import sys

from novahooks_core.state import db as _moved
from novahooks_core.state.db import *  # noqa: F403
from novahooks_core.state.db import (  # noqa: F401
    _sqlite_pragmas as _sqlite_pragmas,
)

sys.modules[__name__] = _moved
