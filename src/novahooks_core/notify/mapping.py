"""Nova's versioned notifications as the events hook calls give.

Nova 22 removed hooks; its versioned notifications (topic
``versioned_notifications``, exchange ``nova``, priorities ``INFO`` and
``ERROR``) carry the same facts. Each mapped notification becomes one or
more :class:`HookEvent` for the hook points whose handlers should see it,
built by the same normalizers:

=================================== =======================================
``instance.create.end``             ``create_instance`` post, then
                                    ``build_instance`` post (``active``)
``instance.create.error``           ``build_instance`` post (``failed``)
``instance.rebuild.end``,           ``build_instance`` post (``active``):
``instance.evacuate``,              the instance is up on a host, with
``instance.resize_finish.end``,     these volumes and networks
``instance.resize_revert.end``,
``instance.unshelve.end``,
``instance.live_migration_post_dest.end``
``instance.update``,                ``instance_network_info`` post
``instance.interface_attach.end``,
``instance.interface_detach.end``,
``instance.shutdown.end`` (a
delete's deallocation),
``instance.shelve_offload.end``,
``instance.soft_delete.end``,
``instance.restore.end``
``instance.delete.end``             ``delete_instance`` pre, the network's
                                    deallocation (``instance_network_info``
                                    post, no VIF), ``delete_instance`` post
=================================== =======================================

A delete is delivered as hooks see it, deallocation included, so a
``shutdown.end`` that comes late, or not at all (nova-api deleting while
the compute host is down), leaves the same state.

(``instance.live_migration_post.end`` comes from the source host before
the move is complete: the destination's ``post_dest.end`` is the one.)

What a notification genuinely carries less of: its ``ip_addresses`` are
fixed IPs only (no floating IPs, network ids, CIDRs, gateways, VIF type or
active flag, and no VIF without an IP): the network info says so in
:attr:`~novahooks_core.models.NetworkInfo.unknown`, and plugins merge it
with what they know (:func:`~novahooks_core.models.merge_network_info`)
rather than read it as "none"; with ``[listen] neutron`` the listener puts
Neutron's floating IPs on it (:mod:`.neutron`). ``block_devices`` are the
attached volumes, and only with Nova's ``[notifications]
bdms_in_notifications`` (else the event's ``block_devices_known`` is
false). There is no create request (so
no create ``pre`` and no veto).

Each payload's ``nova_object.version`` is checked against the major
versions this mapping was written for: an unknown major gets one WARNING
per type and is read as far as the known fields allow, never dropped.
"""

import dataclasses
import datetime
import functools
import threading
from typing import Any, Dict, List, Mapping, Optional, Set, Tuple

from oslo_log import log as logging
from oslo_utils import timeutils

from novahooks_core import models, normalize
from novahooks_core.hooks.event import HookEvent, NotifiedEvent
from novahooks_core.models import HookPoint, Phase
from novahooks_core.normalize import BadInput, as_str
from novahooks_core.normalize.fields import MAPPING

LOG = logging.getLogger(__name__)

CREATE, BUILD = HookPoint.CREATE_INSTANCE, HookPoint.BUILD_INSTANCE
DELETE, NETWORK = HookPoint.DELETE_INSTANCE, HookPoint.INSTANCE_NETWORK_INFO
PRE, POST = Phase.PRE, Phase.POST

_UP = ((BUILD, POST),)
_NETWORK = ((NETWORK, POST),)

#: The hook points (and phases) each notification is delivered to.
EVENT_TYPES: Dict[str, Tuple[Tuple[HookPoint, Phase], ...]] = {
    'instance.create.end': ((CREATE, POST), (BUILD, POST)),
    'instance.create.error': _UP,
    'instance.rebuild.end': _UP,
    'instance.evacuate': _UP,
    'instance.resize_finish.end': _UP,
    'instance.resize_revert.end': _UP,
    'instance.unshelve.end': _UP,
    'instance.live_migration_post_dest.end': _UP,
    'instance.update': _NETWORK,
    'instance.interface_attach.end': _NETWORK,
    'instance.interface_detach.end': _NETWORK,
    'instance.shutdown.end': _NETWORK,
    'instance.shelve_offload.end': _NETWORK,
    'instance.soft_delete.end': _NETWORK,
    'instance.restore.end': _NETWORK,
    'instance.delete.end': ((DELETE, PRE), (NETWORK, POST), (DELETE, POST)),
}

#: ``build_instance``'s result for the notifications delivered to it.
BUILD_RESULTS = {'instance.create.error': 'failed'}

#: The event type that ends an instance (the order guard's tombstone).
DELETED = 'instance.delete.end'

#: The major version of each payload this mapping reads (Nova 34:
#: InstanceUpdatePayload 2.1, the InstanceActionPayload family 1.x).
KNOWN_MAJORS = {
    'InstanceUpdatePayload': 2, 'InstancePayload': 1,
    'InstanceActionPayload': 1, 'InstanceCreatePayload': 1,
    'InstanceActionRebuildPayload': 1, 'InstanceActionResizePrepPayload': 1,
    'InstanceActionVolumePayload': 1, 'InstanceActionRescuePayload': 1,
    'InstanceActionSharePayload': 1, 'InstanceActionVolumeSwapPayload': 1,
}

#: What a notification's network info does not carry.
NOT_CARRIED = models.UNKNOWABLE

#: Nova releases that have no hooks, only these notifications (tested
#: with the samples of the newest).
RELEASES = (22, 34)

#: nova.compute.power_state.STATE_MAP, as notifications spell it.
POWER_STATES = {'pending': 0, 'running': 1, 'paused': 3, 'shutdown': 4,
                 'crashed': 6, 'suspended': 7}


def data(value: Any, what: str) -> Mapping[str, Any]:
    """The fields of a serialized versioned object (``nova_object.data``)."""
    if isinstance(value, MAPPING):
        fields = value.get('nova_object.data', value)
        if isinstance(fields, MAPPING):
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
    return dataclasses.replace(found, unknown=NOT_CARRIED)


def block_devices(value: Any) -> Optional[Tuple[models.BlockDevice, ...]]:
    """Volumes from a payload's ``block_devices`` (``BlockDevicePayload``:
    attached volumes only); ``None`` when Nova did not send them (its
    ``bdms_in_notifications`` is off)."""
    if value is None:
        return None
    return tuple(normalize.block_device(dict(
        item, source_type='volume', destination_type='volume'))
        for item in _objects(value, 'block_devices'))


def _time(value: Any) -> Any:
    """An ISO 8601 time (``None`` when absent or unreadable); a string is
    parsed once (an instance's times repeat in each of its
    notifications)."""
    if isinstance(value, str):
        return _parsed_time(value)
    return _parse_time(value)


def _parse_time(value: Any) -> Optional[datetime.datetime]:
    try:
        return timeutils.parse_isotime(value) if value else None
    except (ValueError, TypeError):
        return None


_parsed_time = functools.lru_cache(maxsize=4096)(_parse_time)


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


_warned: Set[Tuple[str, str, int]] = set()
_warned_lock = threading.Lock()


def check_version(event_type: str, payload: Any) -> Optional[str]:
    """The payload's ``name major.minor``; one WARNING per event type for
    a payload or major version this mapping does not know."""
    if not isinstance(payload, MAPPING):
        return None
    name = as_str(payload.get('nova_object.name')) or '?'
    version = as_str(payload.get('nova_object.version')) or '?'
    try:
        major = int(version.split('.')[0])
    except ValueError:
        major = -1
    if KNOWN_MAJORS.get(name) != major:
        key = (event_type, name, major)
        with _warned_lock:
            new = key not in _warned
            _warned.add(key)
        if new:
            LOG.warning('novahooks listen: %s carries %s %s, which this '
                        'mapping does not know (it reads %s); reading the '
                        'fields it knows', event_type, name, version,
                        ', '.join('%s %d.x' % item for item in sorted(
                            KNOWN_MAJORS.items())) if name not in
                        KNOWN_MAJORS else '%s %d.x' % (
                            name, KNOWN_MAJORS[name]))
    return '%s %s' % (name, version)


@dataclasses.dataclass(frozen=True)
class Notification:
    """One mapped notification: the instance it is about, where it stands
    in that instance's history, and the events it gives."""

    event_type: str
    instance_uuid: str
    #: The instance's ``updated_at`` in the payload, then the envelope's
    #: timestamp (the publisher's clock): the order guard's key.
    updated_at: Optional[datetime.datetime]
    sent_at: Optional[datetime.datetime]
    message_id: str
    events: Tuple[HookEvent, ...]
    #: The instance, volumes and request the events were made of.
    instance: Optional[models.Instance] = None
    block_devices: Optional[Tuple[models.BlockDevice, ...]] = None
    request: Optional[models.RequestInfo] = None

    @property
    def deletes(self) -> bool:
        return self.event_type == DELETED

    def with_network(self, network: models.NetworkInfo) -> 'Notification':
        """The same notification, its instance's network info ``network``
        (another source's floating IPs merged in)."""
        if self.instance is None:
            return self
        found = dataclasses.replace(self.instance, network_info=network)
        return dataclasses.replace(self, instance=found, events=tuple(
            _events(self.event_type, found, self.block_devices,
                    self.request or models.RequestInfo())))


def read(event_type: str, payload: Any,
         context: Optional[Mapping[str, Any]] = None,
         metadata: Optional[Mapping[str, Any]] = None
         ) -> Optional[Notification]:
    """The mapped notification, or ``None`` for an unmapped type. Raises
    :class:`BadInput` when the payload cannot be read."""
    if event_type not in EVENT_TYPES:
        return None
    check_version(event_type, payload)
    fields = data(payload, 'payload')
    found = instance(payload)
    request = _request(fields, context)
    devices = block_devices(fields.get('block_devices'))
    metadata = metadata if isinstance(metadata, MAPPING) else {}
    return Notification(
        event_type, str(found.uuid),
        _naive(_time(fields.get('updated_at'))),
        _naive(_time(metadata.get('timestamp'))),
        as_str(metadata.get('message_id')) or '',
        tuple(_events(event_type, found, devices, request)),
        found, devices, request)


def _naive(value: Optional[datetime.datetime]
           ) -> Optional[datetime.datetime]:
    """UTC without tzinfo (as databases keep it)."""
    if value is None or value.tzinfo is None:
        return value
    return timeutils.normalize_time(value)


def _request(fields: Mapping[str, Any],
             context: Optional[Mapping[str, Any]]) -> models.RequestInfo:
    context = context if isinstance(context, MAPPING) else {}
    return models.RequestInfo(
        request_id=as_str(fields.get('request_id')
                          or context.get('request_id')),
        project_id=as_str(fields.get('action_initiator_project')
                          or context.get('project_id')),
        user_id=as_str(fields.get('action_initiator_user')
                       or context.get('user_id')))


def events(event_type: str, payload: Any,
           context: Optional[Mapping[str, Any]] = None) -> List[HookEvent]:
    """The events a notification gives (none for an unmapped type).

    Raises :class:`BadInput` when the payload cannot be read.
    """
    if event_type not in EVENT_TYPES:
        return []
    fields = data(payload, 'payload')
    return _events(event_type, instance(payload),
                   block_devices(fields.get('block_devices')),
                   _request(fields, context))


def _events(event_type: str, found: models.Instance,
            devices: Optional[Tuple[models.BlockDevice, ...]],
            request: models.RequestInfo) -> List[HookEvent]:
    result = BUILD_RESULTS.get(event_type, 'active')
    # A deleted instance's network is deallocated: known to be empty.
    deallocated = (dataclasses.replace(
        found, network_info=models.NetworkInfo()) if event_type == DELETED
        else found)
    return [NotifiedEvent(
        point, phase,
        deallocated if event_type == DELETED and point is NETWORK else found,
        block_devices=devices, request=request,
        result=result if point is BUILD else None,
        reservation_id=found.reservation_id if point is CREATE else None,
        nova_releases=RELEASES) for point, phase in EVENT_TYPES[event_type]]


__all__ = ['BUILD_RESULTS', 'DELETED', 'EVENT_TYPES', 'KNOWN_MAJORS',
           'NOT_CARRIED', 'Notification', 'POWER_STATES', 'RELEASES',
           'block_devices', 'check_version', 'data', 'events', 'instance',
           'network_info', 'read']
