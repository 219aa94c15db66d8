"""``nova.hooks`` handlers of the storage plugin (run by the dispatcher).

Importing this module needs only core: the service (SQLAlchemy, Alembic)
is imported when an enabled hook first runs.
"""

from typing import TYPE_CHECKING, Optional

from novahooks_core import HookEvent, HookPoint, NovaHook, Veto

if TYPE_CHECKING:
    from novahooks_storage.service import StorageService


def service() -> 'StorageService':
    from novahooks_storage import service as module
    return module.service()


def _op(kind: str, event: HookEvent, with_devices: bool = True
        ) -> Optional[str]:
    from novahooks_storage.service import op
    instance = event.instance
    if instance is None or not instance.uuid:
        return None
    # A notification without Nova's bdms_in_notifications tells none:
    # the ledger keeps what it knows rather than record "no volumes".
    devices = ((event.block_devices if event.block_devices_known else None)
               if with_devices else ())
    return service().write(op(kind, instance.uuid, instance.project_id,
                              devices, instance.host))


class StorageHook(NovaHook):
    plugin_name = 'storage'
    batches = True


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
        from novahooks_storage.service import op
        storage = service()
        devices = event.block_devices
        results = [storage.write(op('requested', i.uuid, i.project_id,
                                    devices))
                   for i in event.instances if i.uuid]
        return '%d instance(s) %s' % (len(results), ','.join(
            sorted(set(results))) or 'none')


class StorageBuildInstance(StorageHook):
    """The mappings actually on the host."""

    hook_point = HookPoint.BUILD_INSTANCE

    def handle_post(self, event: HookEvent) -> Optional[str]:
        return _op('built', event)


class StorageDeleteInstance(StorageHook):
    """The mappings at deletion (pre); what became of each volume (post).
    """

    hook_point = HookPoint.DELETE_INSTANCE

    def handle_pre(self, event: HookEvent) -> Optional[str]:
        return _op('deleting', event)

    def handle_post(self, event: HookEvent) -> Optional[str]:
        return _op('deleted', event, with_devices=False)
