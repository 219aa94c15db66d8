"""Moved to :mod:`novahooks_core.state.journal`
(the state mechanisms: ``novahooks_core/state/``).

This old path keeps working, as the very same module object (its
state is not copied, and monkeypatching either path patches both),
and will be removed in a later release: import the new one.
"""

import sys

from novahooks_core.state import journal as _moved
from novahooks_core.state.journal import *  # noqa: F403

sys.modules[__name__] = _moved
