"""Moved to :mod:`novahooks_core.containment.timing`
(containment: ``novahooks_core/containment/``).

This old path keeps working, as the very same module object (its
state is not copied, and monkeypatching either path patches both),
and will be removed in a later release: import the new one.
"""

import sys

from novahooks_core.containment import timing as _moved
from novahooks_core.containment.timing import *  # noqa: F403
from novahooks_core.containment.timing import (  # noqa: F401
    _listeners as _listeners,
)

sys.modules[__name__] = _moved
