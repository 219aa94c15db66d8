"""``nova.hooks`` handlers of the storage plugin (run by the dispatcher).

Importing this module needs only core: the service (SQLAlchemy, Alembic)
is imported when an enabled hook first runs.
"""

from typing import (
    TYPE_CHECKING,
    List,
    Optional,
    Protocol,
    Sequence,
    Set,
    Tuple,
)

from oslo_log import log as logging

from novahooks_core import HookEvent, HookPoint, NovaHook, Outcome, Veto
from novahooks_core.hooks.base import in_order
from novahooks_core.models import Phase

if TYPE_CHECKING:
    from novahooks_storage.service import Op, StorageService

LOG = logging.getLogger(__name__)


def service() -> 'StorageService':
    from novahooks_storage import service as module
    return module.service()


class Ledger(Protocol):
    """Where a hook's ledger operations go: the service (each written
    now, or spooled), or the listener's batch (decided in memory, written
    with the batch)."""

    def write(self, op: 'Op') -> str:
        ...


def _op(ledger: Ledger, kind: str, event: HookEvent,
        with_devices: bool = True) -> Optional[str]:
    from novahooks_storage.service import op
    instance = event.instance
    if instance is None or not instance.uuid:
        return None
    # A notification without Nova's bdms_in_notifications tells none:
    # the ledger keeps what it knows rather than record "no volumes".
    devices = ((event.block_devices if event.block_devices_known else None)
               if with_devices else ())
    return ledger.write(op(kind, instance.uuid, instance.project_id,
                           devices, instance.host))


class StorageHook(NovaHook):
    plugin_name = 'storage'
    batches = True

    def record(self, event: HookEvent, ledger: Ledger) -> Optional[str]:
        """This hook's work for ``event``, its ledger operations written
        to ``ledger`` (:meth:`handle_pre` and :meth:`handle_post` give
        the service)."""
        return None

    @classmethod
    def before_batch(cls) -> None:
        """Replay the spool before the listener's batch (never inside
        it)."""
        storage = service()
        if storage.waiting():
            storage.replay_spool()

    @classmethod
    def handle_batch(cls, calls: Sequence[Tuple[NovaHook, HookEvent]]
                     ) -> List[Outcome]:
        """The listener's batch: the ledger of its instances read at once,
        each event decided in memory, in order, and guarded on its own,
        and what changed written at once (:meth:`StorageService.batch`).
        If the batch's write fails, every event of it is an error (the
        listener parks their messages). While spooled operations wait,
        one event at a time (each write then spooled behind them, in order)."""
        try:
            storage = service()
            if storage.waiting():
                return super().handle_batch(calls)
            with storage.batch(_uuids(calls)) as batch:
                def handle(hook: NovaHook, event: HookEvent) -> Outcome:
                    if not isinstance(hook, StorageHook):
                        return hook.handle(event)
                    return hook.handle(event, lambda e: hook.record(e, batch))
                return in_order(calls, handle)
        except Exception:
            LOG.exception('novahooks storage: a batch of %d event(s) could '
                          'not be written', len(calls))
            return [Outcome.ERROR] * len(calls)


def _uuids(calls: Sequence[Tuple[NovaHook, HookEvent]]) -> Set[str]:
    """The instances the calls are about (one the events cannot tell is
    read when its operation comes)."""
    found: Set[str] = set()
    for _, event in calls:
        try:
            found.update(i.uuid for i in event.instances if i.uuid)
        except Exception:  # its handler says why, in its guard
            continue
    return found


class StorageCreateInstance(StorageHook):
    """Policy in pre (an operator veto); the requested mappings in post."""

    hook_point = HookPoint.CREATE_INSTANCE

    def handle_pre(self, event: HookEvent) -> Optional[str]:
        request = event.create_request
        if request is None:
            return None
        refused = service().check(request, event.request.project_id)
        if refused:
            raise Veto(refused)
        return None

    def handle_post(self, event: HookEvent) -> Optional[str]:
        return self.record(event, service())

    def record(self, event: HookEvent, ledger: Ledger) -> Optional[str]:
        if event.phase is Phase.PRE:
            return self.handle_pre(event)
        from novahooks_storage.service import op
        devices = event.block_devices
        results = [ledger.write(op('requested', i.uuid, i.project_id,
                                   devices))
                   for i in event.instances if i.uuid]
        return '%d instance(s) %s' % (len(results), ','.join(
            sorted(set(results))) or 'none')


class StorageBuildInstance(StorageHook):
    """The mappings actually on the host."""

    hook_point = HookPoint.BUILD_INSTANCE

    def handle_post(self, event: HookEvent) -> Optional[str]:
        return self.record(event, service())

    def record(self, event: HookEvent, ledger: Ledger) -> Optional[str]:
        return _op(ledger, 'built', event)


class StorageDeleteInstance(StorageHook):
    """The mappings at deletion (pre); what became of each volume (post).
    """

    hook_point = HookPoint.DELETE_INSTANCE

    def handle_pre(self, event: HookEvent) -> Optional[str]:
        return self.record(event, service())

    def handle_post(self, event: HookEvent) -> Optional[str]:
        return self.record(event, service())

    def record(self, event: HookEvent, ledger: Ledger) -> Optional[str]:
        if event.phase is Phase.PRE:
            return _op(ledger, 'deleting', event)
        return _op(ledger, 'deleted', event, with_devices=False)
