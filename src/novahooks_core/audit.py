"""The ``audit`` plugin: one secret-free log line per lifecycle step.

Built into core, on by default, and the smallest complete example of a
plugin. Network-info cache updates are not handled unless ``[audit]
network_info`` is on (then logged at DEBUG): Nova 21 logs "Hooks are
deprecated" at WARNING for every hook that runs, so merely installing
novahooks would add a WARNING to every periodic heal of every instance.
"""

from typing import Optional

from oslo_config import cfg
from oslo_log import log as logging

from novahooks_core import plugin
from novahooks_core.hooks.base import NovaHook
from novahooks_core.hooks.event import HookEvent
from novahooks_core.models import HookPoint, Instance, Phase
from novahooks_core.plugin import Plugin

LOG = logging.getLogger(__name__)

OPTS = [
    cfg.BoolOpt('network_info', default=False,
                help='Also log every network-info cache update (at DEBUG), '
                     'the periodic heal included. Off by default: Nova 21 '
                     'logs "Hooks are deprecated" at WARNING each time a '
                     'hook runs, so this adds a WARNING per instance per '
                     'heal to Nova\'s log.'),
]


class AuditPlugin(Plugin):
    """Descriptor of the audit plugin."""

    name = 'audit'
    options = OPTS


def _addresses(instance: Instance) -> str:
    network = instance.network_info
    if network is None:
        return 'unknown'
    return ','.join(ip.address for ip in network.fixed_ips) or 'none'


class AuditHook(NovaHook):
    """Logs what happens to instances, never what they were given."""

    plugin_name = 'audit'

    def handle_post(self, event: HookEvent) -> Optional[str]:
        if event.hook is HookPoint.CREATE_INSTANCE:
            uuids = ', '.join(str(i.uuid) for i in event.instances)
            message = 'created %s (reservation %s)' % (
                uuids, event.reservation_id)
        else:
            instance = event.instance
            if instance is None:
                return None
            if event.hook is HookPoint.BUILD_INSTANCE:
                message = 'build of %s on %s: %s, addresses %s' % (
                    instance.uuid, instance.host, event.result,
                    _addresses(instance))
            elif event.hook is HookPoint.DELETE_INSTANCE:
                message = 'deleted %s from %s' % (instance.uuid, instance.host)
            else:
                message = 'network info of %s: addresses %s' % (
                    instance.uuid, _addresses(instance))
                LOG.debug('novahooks audit: %s', message)
                return message
        LOG.info('novahooks audit: %s', message)
        return message


class AuditCreateInstance(AuditHook):
    hook_point = HookPoint.CREATE_INSTANCE

    def handle_pre(self, event: HookEvent) -> Optional[str]:
        request = event.create_request
        if request is None:
            return None
        flavor = event.flavor
        message = ('create requested by project %s: %s x%s, flavor %s, '
                   'image %s, %d block device(s)' % (
                       event.request.project_id, request.display_name,
                       request.max_count or 1,
                       flavor.name if flavor else None, request.image_ref,
                       len(request.block_devices)))
        LOG.info('novahooks audit: %s', message)
        return message


class AuditBuildInstance(AuditHook):
    hook_point = HookPoint.BUILD_INSTANCE


class AuditDeleteInstance(AuditHook):
    hook_point = HookPoint.DELETE_INSTANCE


class AuditInstanceNetworkInfo(AuditHook):
    hook_point = HookPoint.INSTANCE_NETWORK_INFO

    @classmethod
    def runs(cls, phase: Phase) -> bool:
        return super().runs(phase) and bool(
            plugin.configured('audit').audit.network_info)
