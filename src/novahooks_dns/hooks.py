"""``nova.hooks`` entry points of the DNS plugin (thin: see service).

Importing this module costs nothing beyond core: the service (database,
backend, dnspython) is imported on first use by an enabled hook, so a
disabled plugin without its extra installed never fails to load in Nova.
"""

from typing import TYPE_CHECKING, Optional

from novahooks_core import HookEvent, HookPoint, NovaHook, Veto
from novahooks_core.seen import SEEN
from novahooks_dns import decide

if TYPE_CHECKING:
    from novahooks_dns.service import DnsService


def service() -> 'DnsService':
    from novahooks_dns import service as module
    return module.service()


class DnsHook(NovaHook):
    plugin_name = 'dns'
    batches = True

    def sync(self, event: HookEvent, deleting: bool = False) -> str:
        """Make the instance's records match; a call equal to the last one
        synced (the periodic heal) is recognised in memory, before the
        instance or its network info is normalized."""
        if SEEN.unchanged('dns', event):
            return 'unchanged'
        instance = event.instance
        if instance is None:
            return 'no instance'
        dns = service()
        summary, decided = dns.sync(instance, event.network_info, deleting)
        if decided:
            SEEN.remember('dns', event, dns.recheck)
        return summary


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
        dns = service()
        for instance in event.instances:
            dns.remember(instance)
        return 'remembered %d instance(s)' % len(event.instances)


class DnsBuildInstance(DnsHook):
    """Publish the records of a built instance."""

    hook_point = HookPoint.BUILD_INSTANCE

    def handle_post(self, event: HookEvent) -> Optional[str]:
        if event.result != 'active':
            return None
        return self.sync(event)


class DnsInstanceNetworkInfo(DnsHook):
    """Follow network changes; an unchanged refresh costs microseconds."""

    hook_point = HookPoint.INSTANCE_NETWORK_INFO
    skips_unchanged = True

    def handle_post(self, event: HookEvent) -> Optional[str]:
        instance = event.instance
        if instance is None:
            return None
        return self.sync(event, deleting=decide.is_deleting(instance))


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
        instance = event.instance
        if instance is None or not instance.uuid:
            return None
        dns = service()
        SEEN.forget('dns', instance.uuid)
        return dns.remove(instance, dns.fallback.pop(instance.uuid))
