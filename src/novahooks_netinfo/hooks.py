"""``nova.hooks`` handlers of the netinfo plugin (run by the dispatcher).

Importing this module needs only core; the service (SQLAlchemy) is
imported when an enabled hook first runs.
"""

from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple

from oslo_log import log as logging

from novahooks_core import HookEvent, HookPoint, NovaHook, Outcome
from novahooks_core.hooks.base import in_order

if TYPE_CHECKING:
    from novahooks_netinfo.service import NetinfoService


LOG = logging.getLogger(__name__)


def service() -> 'NetinfoService':
    from novahooks_netinfo import service as module
    return module.service()


class NetinfoHook(NovaHook):
    plugin_name = 'netinfo'
    batches = True
    skips_unchanged = True

    def handle_post(self, event: HookEvent) -> Optional[str]:
        return service().observe_event(event)

    @classmethod
    def handle_batch(cls, calls: Sequence[Tuple[NovaHook, HookEvent]]
                     ) -> List[Outcome]:
        """The listener's batch: the history read and written once
        (:meth:`NetinfoService.batch`), each event decided in order and
        guarded on its own. If the batch's write fails, every event of it
        is an error (the listener parks their messages), and nothing of
        it is remembered as seen."""
        events = [event for _, event in calls]
        try:
            with service().batch(events) as batch:
                return in_order(calls, lambda hook, event: hook.handle(
                    event, batch.observe_event))
        except Exception:
            LOG.exception('novahooks netinfo: a batch of %d event(s) could '
                          'not be written', len(calls))
            cls.forget_unchanged(event.instance_uuid for event in events)
            return [Outcome.ERROR] * len(calls)


class NetinfoInstanceNetworkInfo(NetinfoHook):
    """Every cache update, the periodic heal included."""

    hook_point = HookPoint.INSTANCE_NETWORK_INFO


class NetinfoBuildInstance(NetinfoHook):
    """The network info a build ends with."""

    hook_point = HookPoint.BUILD_INSTANCE
