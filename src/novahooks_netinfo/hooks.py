"""``nova.hooks`` handlers of the netinfo plugin (run by the dispatcher).

Importing this module needs only core; the service (SQLAlchemy) is
imported when an enabled hook first runs.
"""

from typing import TYPE_CHECKING, Optional

from novahooks_core import HookEvent, HookPoint, NovaHook

if TYPE_CHECKING:
    from novahooks_netinfo.service import NetinfoService


def service() -> 'NetinfoService':
    from novahooks_netinfo import service as module
    return module.service()


class NetinfoHook(NovaHook):
    plugin_name = 'netinfo'
    batches = True
    skips_unchanged = True

    def handle_post(self, event: HookEvent) -> Optional[str]:
        return service().observe_event(event)


class NetinfoInstanceNetworkInfo(NetinfoHook):
    """Every cache update, the periodic heal included."""

    hook_point = HookPoint.INSTANCE_NETWORK_INFO


class NetinfoBuildInstance(NetinfoHook):
    """The network info a build ends with."""

    hook_point = HookPoint.BUILD_INSTANCE
