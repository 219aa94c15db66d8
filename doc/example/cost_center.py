"""Example custom hook: every server must name a cost center.

Refuses ``create_instance`` requests whose metadata lacks ``cost-center``
(when the operator set ``allow_veto = true``) and logs where each built
instance landed. Register it in your package's ``setup.cfg``::

    [entry_points]
    nova.hooks =
        create_instance = cost_center:CostCenterCreate
        build_instance = cost_center:CostCenterBuild

and enable it with ``enabled_plugins = audit,cost_center``.
"""

from typing import Optional

from oslo_log import log as logging

from novahooks_core import HookEvent, HookPoint, NovaHook, Veto

LOG = logging.getLogger(__name__)


class CostCenterHooks(NovaHook):
    plugin_name = 'cost_center'


class CostCenterCreate(CostCenterHooks):
    hook_point = HookPoint.CREATE_INSTANCE

    def handle_pre(self, event: HookEvent) -> Optional[str]:
        request = event.create_request
        if request is None or 'cost-center' in request.metadata:
            return 'cost center %s' % (request.metadata['cost-center']
                                       if request else None)
        raise Veto('metadata "cost-center" is required (project %s)'
                   % event.request.project_id)


class CostCenterBuild(CostCenterHooks):
    hook_point = HookPoint.BUILD_INSTANCE

    def handle_post(self, event: HookEvent) -> Optional[str]:
        instance = event.instance
        if instance is None:
            return None
        LOG.info('cost center %s: %s is %s on %s',
                 instance.metadata.get('cost-center'), instance.uuid,
                 event.result, instance.host)
        return 'logged'
