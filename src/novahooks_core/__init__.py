"""novahooks core: safe, typed, version-tolerant Nova hooks.

What custom hooks import: :class:`NovaHook` to subclass, the models its
handlers receive, :class:`Handled` (a summary that has an equal call
taken as unchanged), :class:`Veto`, and the :func:`isolated` and
:func:`timed` decorators for users' own code.

``FatalHookException`` is the class a veto really raises: Nova's own
``nova.hooks.FatalHookException`` where Nova is importable (looked up on
first access, so importing novahooks never imports Nova), else a stand-in.
"""

from typing import TYPE_CHECKING, Any

from novahooks_core.containment.isolation import Veto, isolated
from novahooks_core.containment.timing import timed
from novahooks_core.hooks.base import Handled, NovaHook
from novahooks_core.hooks.event import HookEvent
from novahooks_core.models import (
    BlockDevice,
    CreateRequest,
    Flavor,
    HookPoint,
    Instance,
    IpAddress,
    NetworkInfo,
    Outcome,
    Phase,
    RequestedNetwork,
    RequestInfo,
    Subnet,
    Vif,
)
from novahooks_core.normalize import BadInput

__all__ = ['BadInput', 'BlockDevice', 'CreateRequest', 'FatalHookException',
           'Flavor', 'Handled', 'HookEvent', 'HookPoint', 'Instance',
           'IpAddress', 'NetworkInfo', 'NovaHook', 'Outcome', 'Phase',
           'RequestInfo', 'RequestedNetwork', 'Subnet', 'Veto', 'Vif',
           'isolated', 'timed']

if TYPE_CHECKING:
    from novahooks_core.containment.isolation import FatalHookException


def __getattr__(name: str) -> Any:
    if name == 'FatalHookException':
        from novahooks_core.containment.isolation import fatal_exception_class
        return fatal_exception_class()
    raise AttributeError('module %r has no attribute %r' % (__name__, name))
