"""Moved to :mod:`novahooks_core.hooks.dispatch`
(the hook adapter: ``novahooks_core/hooks/``).

This old path keeps working, as the very same module object (its
state is not copied, and monkeypatching either path patches both),
and will be removed in a later release: import the new one.
"""

import sys

from novahooks_core.hooks import dispatch as _moved
from novahooks_core.hooks.dispatch import *  # noqa: F403

sys.modules[__name__] = _moved
