"""Nova's versioned notifications as the events hook calls give.

Nova 22 removed hooks; its versioned notifications (topic
``versioned_notifications``, exchange ``nova``) carry the same facts. Each
mapped notification becomes one or more :class:`HookEvent` for the hook
points whose handlers should see it, built by the same normalizers:

=============================== ==========================================
``instance.create.end``         ``create_instance`` post, then
                                ``build_instance`` post (result ``active``)
``instance.update``             ``instance_network_info`` post
``instance.interface_attach.end`` ``instance_network_info`` post
``instance.interface_detach.end`` ``instance_network_info`` post
``instance.shutdown.end``       ``instance_network_info`` post (a delete's
                                deallocation, a shelve offload)
``instance.delete.end``         ``delete_instance`` pre, then post
=============================== ==========================================

What a notification genuinely carries less of: its ``ip_addresses`` are
fixed IPs only (no floating IPs, network ids, CIDRs, gateways, VIF type or
active flag, and no VIF without an IP); ``block_devices`` are the attached
volumes, and only with Nova's ``[notifications] bdms_in_notifications``;
there is no create request (so no create ``pre`` and no veto).
"""

from typing import Any, Dict, List, Mapping, Optional, Tuple

from oslo_utils import timeutils

from novahooks_core import models, normalize
from novahooks_core.event import HookEvent, normalized_event
from novahooks_core.models import HookPoint, Phase
from novahooks_core.normalize import BadInput, as_str

CREATE, BUILD = HookPoint.CREATE_INSTANCE, HookPoint.BUILD_INSTANCE
DELETE, NETWORK = HookPoint.DELETE_INSTANCE, HookPoint.INSTANCE_NETWORK_INFO
PRE, POST = Phase.PRE, Phase.POST

#: The hook points (and phases) each notification is delivered to.
EVENT_TYPES: Dict[str, Tuple[Tuple[HookPoint, Phase], ...]] = {
    'instance.create.end': ((CREATE, POST), (BUILD, POST)),
    'instance.update': ((NETWORK, POST),),
    'instance.interface_attach.end': ((NETWORK, POST),),
    'instance.interface_detach.end': ((NETWORK, POST),),
    'instance.shutdown.end': ((NETWORK, POST),),
    'instance.delete.end': ((DELETE, PRE), (DELETE, POST)),
}

#: Nova releases that have no hooks, only these notifications (tested
#: with the samples of the newest).
RELEASES = (22, 34)

#: nova.compute.power_state.STATE_MAP, as notifications spell it.
POWER_STATES = {'pending': 0, 'running': 1, 'paused': 3, 'shutdown': 4,
                 'crashed': 6, 'suspended': 7}


def data(value: Any, what: str) -> Mapping[str, Any]:
    """The fields of a serialized versioned object (``nova_object.data``)."""
    if isinstance(value, Mapping):
        fields = value.get('nova_object.data', value)
        if isinstance(fields, Mapping):
            return fields
    raise BadInput('%s is a %s, expected a versioned object'
                   % (what, type(value).__name__))


def _objects(value: Any, what: str) -> List[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise BadInput('%s is a %s, expected a list' % (
            what, type(value).__name__))
    return [data(item, what) for item in value]


def network_info(ip_addresses: Any) -> models.NetworkInfo:
    """VIFs from a payload's ``ip_addresses`` (one ``IpPayload`` per fixed
    IP, grouped here by port in their order)."""
    vifs: Dict[str, Dict[str, Any]] = {}
    for ip in _objects(ip_addresses, 'ip_addresses'):
        port = as_str(ip.get('port_uuid')) or as_str(ip.get('mac')) or '?'
        vif = vifs.setdefault(port, {
            'id': ip.get('port_uuid'), 'address': ip.get('mac'),
            'devname': ip.get('device_name'),
            'network': {'label': ip.get('label'), 'subnets': []}})
        subnets = vif['network']['subnets']
        version = ip.get('version')
        subnet = next((s for s in subnets if s['version'] == version), None)
        if subnet is None:
            subnet = {'version': version, 'ips': []}
            subnets.append(subnet)
        subnet['ips'].append({'address': ip.get('address'),
                              'version': version, 'type': 'fixed'})
    found = normalize.network_info(list(vifs.values()))
    assert found is not None
    return found


def block_devices(value: Any) -> Tuple[models.BlockDevice, ...]:
    """Volumes from a payload's ``block_devices`` (``BlockDevicePayload``:
    attached volumes only)."""
    return tuple(normalize.block_device(dict(
        item, source_type='volume', destination_type='volume'))
        for item in _objects(value, 'block_devices'))


def _time(value: Any) -> Any:
    try:
        return timeutils.parse_isotime(value) if value else None
    except (ValueError, TypeError):
        return None


def instance(payload: Mapping[str, Any]) -> models.Instance:
    """An :class:`Instance` from an ``InstancePayload`` (or a subclass)."""
    fields = data(payload, 'payload')
    if not as_str(fields.get('uuid')):
        raise BadInput('payload without an instance uuid')
    state = as_str(fields.get('state'))
    flavor = fields.get('flavor')
    found = normalize.instance({
        'uuid': fields.get('uuid'), 'hostname': fields.get('host_name'),
        'display_name': fields.get('display_name'),
        'project_id': fields.get('tenant_id'),
        'user_id': fields.get('user_id'), 'host': fields.get('host'),
        'node': fields.get('node'),
        'availability_zone': fields.get('availability_zone'),
        'vm_state': state, 'task_state': fields.get('task_state'),
        'power_state': POWER_STATES.get(str(fields.get('power_state'))),
        'image_ref': fields.get('image_uuid'),
        'key_name': fields.get('key_name'),
        'reservation_id': fields.get('reservation_id'),
        'launched_at': _time(fields.get('launched_at')),
        'terminated_at': _time(fields.get('terminated_at')),
        'deleted': state in ('deleted', 'soft-delete'),
        'metadata': fields.get('metadata') or {},
        'tags': fields.get('tags') or (),
        'flavor': data(flavor, 'flavor') if flavor is not None else None,
    }, network=network_info(fields.get('ip_addresses')))
    assert found is not None
    return found


def events(event_type: str, payload: Any,
           context: Optional[Mapping[str, Any]] = None) -> List[HookEvent]:
    """The events a notification gives (none for an unmapped type).

    Raises :class:`BadInput` when the payload cannot be read.
    """
    points = EVENT_TYPES.get(event_type)
    if points is None:
        return []
    fields = data(payload, 'payload')
    found = instance(payload)
    context = context if isinstance(context, Mapping) else {}
    request = models.RequestInfo(
        request_id=as_str(fields.get('request_id')
                          or context.get('request_id')),
        project_id=as_str(fields.get('action_initiator_project')
                          or context.get('project_id')),
        user_id=as_str(fields.get('action_initiator_user')
                       or context.get('user_id')))
    devices = block_devices(fields.get('block_devices'))
    return [normalized_event(
        point, phase, found, block_devices=devices, request=request,
        result='active' if point is BUILD else None,
        reservation_id=found.reservation_id if point is CREATE else None,
        nova_releases=RELEASES) for point, phase in points]


__all__ = ['EVENT_TYPES', 'POWER_STATES', 'RELEASES', 'block_devices',
           'data', 'events', 'instance', 'network_info']
