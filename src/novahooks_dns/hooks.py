"""``nova.hooks`` entry points of the DNS plugin (thin: see service).

Importing this module costs nothing beyond core: the service (database,
backend, dnspython) is imported on first use by an enabled hook, so a
disabled plugin without its extra installed never fails to load in Nova.
"""

from typing import (
    TYPE_CHECKING,
    Callable,
    List,
    Optional,
    Sequence,
    Tuple,
)

from oslo_log import log as logging

from novahooks_core import (
    Handled,
    HookEvent,
    HookPoint,
    NovaHook,
    Outcome,
    Phase,
    Veto,
)
from novahooks_core.hooks.base import in_order
from novahooks_dns import decide

if TYPE_CHECKING:
    from novahooks_dns.service import Batch, DnsService

LOG = logging.getLogger(__name__)


def service() -> 'DnsService':
    from novahooks_dns import service as module
    return module.service()


class DnsHook(NovaHook):
    plugin_name = 'dns'
    batches = True

    def sync(self, event: HookEvent, deleting: bool = False,
             batch: Optional['Batch'] = None) -> str:
        """Make the instance's records match; a call equal to the last one
        synced (the periodic heal) is recognised in memory, before the
        instance or its network info is normalized (by :meth:`handle`
        for a hook that skips unchanged calls, here for the others). A
        decided sync is remembered for ``[dns] heal_recheck_seconds``."""
        if not self.skips_unchanged and self.is_unchanged(event):
            return 'unchanged'
        instance = event.instance
        if instance is None:
            return 'no instance'
        dns = service()
        summary, decided = dns.sync(instance, event.network_info, deleting,
                                    batch)
        if decided:
            return Handled(summary, unchanged_for=dns.recheck)
        return summary

    def post_in(self, event: HookEvent, batch: Optional['Batch']
                ) -> Optional[str]:
        """What :meth:`handle_post` does, its decisions made in the
        listener's ``batch`` (``None``: each on its own, through the
        spool)."""
        return self.handle_post(event)

    @classmethod
    def before_batch(cls) -> None:
        """Before each of the listener's batches, outside its unit of
        work: the spool replayed (never inside a unit), so the batch can
        be decided at once."""
        dns = service()
        if dns.spool.journal.exists():
            dns.ready()

    @classmethod
    def handle_batch(cls, calls: Sequence[Tuple[NovaHook, HookEvent]]
                     ) -> List[Outcome]:
        """The listener's batch: the state of its instances read and
        written once (:meth:`DnsService.batch`), each event decided in
        memory, in order, and guarded on its own. If the batch's write
        fails, every event of it is an error (the listener parks their
        messages) and nothing of it is remembered as seen. With
        operations still waiting in the spool (the database was
        unavailable when :meth:`before_batch` replayed it), one event at
        a time, as Nova's hooks do: each is spooled behind them, in
        order."""
        try:
            dns = service()
            batching = dns.batching()
        except Exception:  # each event's guard says why
            batching = False
        if not batching:
            return super().handle_batch(calls)
        events = [event for _, event in calls]
        try:
            with dns.batch(events) as batch:
                return in_order(calls, lambda hook, event: hook.handle(
                    event, _in(hook, event, batch)))
        except Exception:
            LOG.exception('novahooks dns: a batch of %d event(s) could not '
                          'be written', len(calls))
            from novahooks_dns.service import uuids_of
            cls.forget_unchanged(uuids_of(events))
            return [Outcome.ERROR] * len(calls)


def _in(hook: NovaHook, event: HookEvent, batch: 'Batch'
        ) -> Optional[Callable[[HookEvent], Optional[str]]]:
    """The handler of ``hook`` for ``event`` in ``batch`` (``None``: its
    own)."""
    if event.phase is not Phase.POST or not isinstance(hook, DnsHook):
        return None
    return lambda given: hook.post_in(given, batch)


class DnsCreateInstance(DnsHook):
    """Refuse taken names (when configured); remember the new instances."""

    hook_point = HookPoint.CREATE_INSTANCE

    def handle_pre(self, event: HookEvent) -> Optional[str]:
        request = event.create_request
        if request is None:
            return None
        dns = service()
        if not dns.conf.dns.refuse_duplicate_names:
            return None
        owner = dns.owner_of(decide.requested_name(
            request, event.request.project_id, dns.settings))
        if owner:
            raise Veto('DNS name of "%s" is already registered to instance '
                       '%s' % (request.display_name, owner))
        return None

    def handle_post(self, event: HookEvent) -> Optional[str]:
        return self.post_in(event, None)

    def post_in(self, event: HookEvent, batch: Optional['Batch']
                ) -> Optional[str]:
        dns = service()
        for instance in event.instances:
            dns.remember(instance, batch)
        return 'remembered %d instance(s)' % len(event.instances)


class DnsBuildInstance(DnsHook):
    """Publish the records of a built instance."""

    hook_point = HookPoint.BUILD_INSTANCE

    def handle_post(self, event: HookEvent) -> Optional[str]:
        return self.post_in(event, None)

    def post_in(self, event: HookEvent, batch: Optional['Batch']
                ) -> Optional[str]:
        if event.result != 'active':
            return None
        return self.sync(event, batch=batch)


class DnsInstanceNetworkInfo(DnsHook):
    """Follow network changes; an unchanged refresh costs microseconds."""

    hook_point = HookPoint.INSTANCE_NETWORK_INFO
    skips_unchanged = True

    def handle_post(self, event: HookEvent) -> Optional[str]:
        return self.post_in(event, None)

    def post_in(self, event: HookEvent, batch: Optional['Batch']
                ) -> Optional[str]:
        instance = event.instance
        if instance is None:
            return None
        return self.sync(event, deleting=decide.is_deleting(instance),
                         batch=batch)


class DnsDeleteInstance(DnsHook):
    """Remove every record of a deleted instance."""

    hook_point = HookPoint.DELETE_INSTANCE

    def handle_pre(self, event: HookEvent) -> Optional[str]:
        instance = event.instance
        if instance is None or not instance.uuid:
            return None
        service().prepare_removal(instance)
        return None

    def handle_post(self, event: HookEvent) -> Optional[str]:
        return self.post_in(event, None)

    def post_in(self, event: HookEvent, batch: Optional['Batch']
                ) -> Optional[str]:
        instance = event.instance
        if instance is None or not instance.uuid:
            return None
        dns = service()
        return Handled(dns.remove(instance, dns.fallback.pop(instance.uuid),
                                  batch), forget=True)
