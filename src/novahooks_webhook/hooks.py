"""``nova.hooks`` handlers of the webhook plugin (thin: see service).

Importing this module needs only core; the service (SQLAlchemy, requests,
the CloudEvents and Standard Webhooks libraries) is imported when an
enabled hook first runs. Every handler is a ``post``: it records what
Nova did, and the background sender delivers it.
"""

from typing import TYPE_CHECKING, Optional, Sequence

from novahooks_core import Handled, HookEvent, HookPoint, NovaHook
from novahooks_core.hooks.event import NotifiedEvent
from novahooks_core.models import BlockDevice

if TYPE_CHECKING:
    from novahooks_webhook.service import WebhookService

#: How long an equal network-info refresh (the periodic heal) is taken as
#: unchanged from memory.
RECHECK_SECONDS = 300.0


def service() -> 'WebhookService':
    from novahooks_webhook import service as module
    return module.service()


def _devices(event: HookEvent) -> Optional[Sequence[BlockDevice]]:
    """The event's volumes, ``None`` when it does not tell them."""
    if not event.block_devices_known:
        return None
    if isinstance(event, NotifiedEvent):
        return event.block_devices
    if event.hook in (HookPoint.BUILD_INSTANCE, HookPoint.DELETE_INSTANCE):
        return event.block_devices
    return None  # a hook's create tells requested ones; a cache update none


class WebhookHook(NovaHook):
    plugin_name = 'webhook'
    batches = True

    def handle_post(self, event: HookEvent) -> Optional[str]:
        instance = event.instance
        if instance is None:
            return None
        return service().observe(instance, event.network_info,
                                 _devices(event))

    @classmethod
    def before_batch(cls) -> None:
        """Before each of the listener's batches, outside its unit of
        work: the spool replayed (never inside a unit)."""
        found = service()
        if found.spool.journal.exists():
            found.ready()


class WebhookCreateInstance(WebhookHook):
    """The instances a create made: each one's ``created``."""

    hook_point = HookPoint.CREATE_INSTANCE

    def handle_post(self, event: HookEvent) -> Optional[str]:
        found = service()
        # A notification tells the network and volumes the instance was
        # created with; a hook's create knows neither yet.
        told = isinstance(event, NotifiedEvent)
        made = [found.observe(
            instance, instance.network_info if told else None,
            _devices(event) if told else None)
            for instance in event.instances if instance.uuid]
        return '; '.join(made) or None


class WebhookBuildInstance(WebhookHook):
    """An instance up on a host (built, rebuilt, moved, unshelved)."""

    hook_point = HookPoint.BUILD_INSTANCE


class WebhookInstanceNetworkInfo(WebhookHook):
    """Network changes and state updates; an unchanged refresh (the
    periodic heal) is skipped from memory."""

    hook_point = HookPoint.INSTANCE_NETWORK_INFO
    skips_unchanged = True

    def handle_post(self, event: HookEvent) -> Optional[str]:
        instance = event.instance
        if instance is None:
            return None
        if instance.task_state == 'deleting' or instance.deleted:
            return 'deleting: the delete tells it'
        summary = super().handle_post(event) or ''
        if summary.endswith('spooled'):
            return summary  # not recorded yet: an equal call is handled
        return Handled(summary, unchanged_for=RECHECK_SECONDS)


class WebhookDeleteInstance(WebhookHook):
    """A deleted instance: its ``deleted``, its last event."""

    hook_point = HookPoint.DELETE_INSTANCE

    def handle_post(self, event: HookEvent) -> Optional[str]:
        instance = event.instance
        if instance is None or not instance.uuid:
            return None
        summary = service().observe(instance, None, None, deleting=True)
        return Handled(summary, forget=True)
