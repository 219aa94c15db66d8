"""novahooks core: safe, typed, version-tolerant Nova hooks.

What custom hooks import: :class:`NovaHook` to subclass, the models its
handlers receive, :class:`Veto`, and the :func:`isolated` and :func:`timed`
decorators for users' own code.
"""

from novahooks_core.event import HookEvent
from novahooks_core.hook import NovaHook
from novahooks_core.isolation import FatalHookException, Veto, isolated
from novahooks_core.models import (
                                   BlockDevice,
                                   CreateRequest,
                                   Flavor,
                                   HookPoint,
                                   Instance,
                                   IpAddress,
                                   NetworkInfo,
                                   Phase,
                                   RequestedNetwork,
                                   RequestInfo,
                                   Subnet,
                                   Vif,
)
from novahooks_core.normalize import BadInput
from novahooks_core.timing import timed

__all__ = ['BadInput', 'BlockDevice', 'CreateRequest', 'FatalHookException',
           'Flavor', 'HookEvent', 'HookPoint', 'Instance', 'IpAddress',
           'NetworkInfo', 'NovaHook', 'Phase', 'RequestInfo',
           'RequestedNetwork', 'Subnet', 'Veto', 'Vif', 'isolated', 'timed']
