"""Pure decisions of the webhook plugin: an instance's merged view, the
changes between two views, and the CloudEvents they make.

Nothing here does I/O. The service keeps, per instance, the last view, the
network info it was made of and the last ``sequence``; :func:`decide`
tells what an observation changes and which events that makes.
"""

import dataclasses
import datetime
import json
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple
import uuid as uuid_module

from novahooks_core import models
from novahooks_core.models import BlockDevice, Instance, NetworkInfo

#: The prefix of every event type.
PREFIX = 'io.novahooks.instance.'

CREATED = 'created'
NETWORK_CHANGED = 'network_changed'
BLOCK_DEVICES_CHANGED = 'block_devices_changed'
HOST_CHANGED = 'host_changed'
STATE_CHANGED = 'state_changed'
DELETED = 'deleted'

#: Every kind of event, in the order one observation's events are sent.
KINDS = (CREATED, HOST_CHANGED, NETWORK_CHANGED, BLOCK_DEVICES_CHANGED,
         STATE_CHANGED, DELETED)

#: Digits of ``sequence`` (zero-padded: its string order is its order).
SEQUENCE_DIGITS = 20

#: Names event ids (uuid5 of the instance and its sequence).
ID_NAMESPACE = uuid_module.UUID('6f1f4a5e-3f55-4a4e-9a0e-5b6c1d0f26a1')

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           'schema.json')

#: The fields of a view a missing value does not erase (an observation
#: that does not carry them keeps the known ones).
_KEPT = ('name', 'hostname', 'project_id', 'user_id', 'availability_zone',
         'flavor', 'image', 'state', 'host', 'node')


def type_of(kind: str) -> str:
    """The CloudEvents ``type`` of an event kind."""
    return PREFIX + kind


def schema() -> Dict[str, Any]:
    """The JSON Schema of every event's ``data``."""
    with open(SCHEMA_PATH) as stream:
        found: Dict[str, Any] = json.load(stream)
    return found


def _network(network: NetworkInfo) -> List[Dict[str, Any]]:
    return [{
        'port_id': vif.id, 'mac': vif.address,
        'network_id': vif.network_id, 'network': vif.network_label,
        'fixed_ips': [ip.address for ip in vif.fixed_ips],
        'floating_ips': sorted({f for ip in vif.fixed_ips
                                for f in ip.floating_ips}),
    } for vif in network.vifs]


def _devices(devices: Sequence[BlockDevice]) -> List[Dict[str, Any]]:
    return sorted(({
        'volume_id': device.volume_id, 'device_name': device.device_name,
        'boot_index': device.boot_index,
        'delete_on_termination': device.delete_on_termination,
        'tag': device.tag,
    } for device in devices if device.volume_id),
        key=lambda d: (str(d['device_name']), str(d['volume_id'])))


def view(instance: Instance, network: Optional[NetworkInfo],
         devices: Optional[Sequence[BlockDevice]],
         known: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """The instance as events show it (never a secret: built field by field
    from the normalized models, which hold none), merged with the ``known``
    view: what this observation does not carry (``None`` values, network
    info ``None``, devices ``None``) is kept from it."""
    flavor = instance.flavor
    found: Dict[str, Any] = {
        'uuid': instance.uuid, 'name': instance.display_name,
        'hostname': instance.hostname, 'project_id': instance.project_id,
        'user_id': instance.user_id,
        'availability_zone': instance.availability_zone,
        'flavor': flavor.name if flavor is not None else None,
        'image': instance.image_ref or None, 'state': instance.vm_state,
        'host': instance.host, 'node': instance.node,
        'network': None if network is None else _network(network),
        'block_devices': None if devices is None else _devices(devices),
    }
    known = known or {}
    for name in _KEPT:
        if found[name] is None:
            found[name] = known.get(name)
    if found['state'] == 'shelved_offloaded':
        found['host'] = found['node'] = None  # no host: really none
    for name in ('network', 'block_devices'):
        if found[name] is None:
            found[name] = known.get(name, [])
    return found


def merged_network(known: Optional[Mapping[str, Any]],
                   given: Optional[NetworkInfo]) -> Optional[NetworkInfo]:
    """``given`` with what its source does not carry taken from ``known``
    (a stored primitive): a notification's floating IPs from a hook's."""
    if given is None:
        return None if known is None else \
            models.network_info_from_primitive(known)
    old = None if known is None else models.network_info_from_primitive(
        known)
    return models.merge_network_info(old, given)


@dataclasses.dataclass(frozen=True)
class Change:
    """One event decided: its kind and what changed."""

    kind: str
    changes: Mapping[str, Any]


def _diff(old: Sequence[Any], new: Sequence[Any]) -> Tuple[List[Any],
                                                           List[Any]]:
    return ([item for item in new if item not in old],
            [item for item in old if item not in new])


def _network_changes(old: Sequence[Mapping[str, Any]],
                     new: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    def every(ports: Sequence[Mapping[str, Any]], key: str) -> List[str]:
        return sorted({ip for port in ports for ip in port[key]})

    found: Dict[str, Any] = {}
    added, removed = _diff([p['port_id'] for p in old],
                           [p['port_id'] for p in new])
    for key, values in (('ports_added', added), ('ports_removed', removed)):
        if values:
            found[key] = values
    for key in ('fixed_ips', 'floating_ips'):
        added, removed = _diff(every(old, key), every(new, key))
        if added:
            found[key + '_added'] = added
        if removed:
            found[key + '_removed'] = removed
    return found


def changes_between(old: Mapping[str, Any], new: Mapping[str, Any]
                    ) -> List[Change]:
    """The events that going from view ``old`` to ``new`` makes, in the
    order of :data:`KINDS` (none: nothing an event tells changed)."""
    found: List[Change] = []
    if (old['host'], old['node']) != (new['host'], new['node']):
        found.append(Change(HOST_CHANGED, {
            'host': {'old': old['host'], 'new': new['host']},
            'node': {'old': old['node'], 'new': new['node']}}))
    if old['network'] != new['network']:
        found.append(Change(NETWORK_CHANGED, _network_changes(
            old['network'], new['network'])))
    if old['block_devices'] != new['block_devices']:
        attached, detached = _diff(
            [d['volume_id'] for d in old['block_devices']],
            [d['volume_id'] for d in new['block_devices']])
        found.append(Change(BLOCK_DEVICES_CHANGED, {
            'attached': attached, 'detached': detached}))
    if old['state'] != new['state']:
        found.append(Change(STATE_CHANGED, {
            'state': {'old': old['state'], 'new': new['state']}}))
    return found


@dataclasses.dataclass(frozen=True)
class Known:
    """What is kept of an instance: its last view (``None``: none sent
    yet), its last sequence and whether it was deleted."""

    view: Optional[Mapping[str, Any]] = None
    sequence: int = 0
    deleted: bool = False


def decide(known: Known, new: Mapping[str, Any], deleting: bool
           ) -> List[Change]:
    """The events an observation of view ``new`` makes: nothing after
    ``deleted``; ``created`` first, whatever told of the instance first;
    a delete ends it with ``deleted`` alone (the changes its teardown made
    on the way are not news)."""
    if known.deleted:
        return []
    found: List[Change] = []
    if known.view is None:
        found.append(Change(CREATED, {}))
    elif not deleting:
        found += changes_between(known.view, new)
    if deleting:
        found.append(Change(DELETED, {}))
    return found


def sequence_text(sequence: int) -> str:
    """``sequence`` as the CloudEvents sequence extension: zero-padded
    decimal, so its string order is its order."""
    return str(sequence).zfill(SEQUENCE_DIGITS)


def event_id(instance_uuid: str, sequence: int) -> str:
    """The event's ``id``: the same for the same change (an instance's
    sequence number is given once, with its state, in one transaction)."""
    return str(uuid_module.uuid5(ID_NAMESPACE, '%s/%d' % (instance_uuid,
                                                          sequence)))


def cloud_event(source: str, instance_uuid: str, sequence: int,
                change: Change, view_: Mapping[str, Any],
                at: datetime.datetime) -> Dict[str, Any]:
    """The event's attributes and ``data``, as stored in the outbox (the
    sender gives them to the CloudEvents SDK)."""
    return {
        'attributes': {
            'type': type_of(change.kind), 'source': source,
            'subject': instance_uuid,
            'id': event_id(instance_uuid, sequence),
            'sequence': sequence_text(sequence),
            'time': at.replace(tzinfo=datetime.timezone.utc).isoformat(
                timespec='microseconds').replace('+00:00', 'Z'),
            'datacontenttype': 'application/json'},
        'data': dict(view_, changes=dict(change.changes)),
    }


@dataclasses.dataclass(frozen=True)
class Subscription:
    """An endpoint's filters: event kinds and project ids (empty: all)."""

    name: str
    event_types: Tuple[str, ...] = ()
    projects: Tuple[str, ...] = ()

    def wants(self, kind: str, project_id: Optional[str]) -> bool:
        """Whether an event of ``kind`` about an instance of
        ``project_id`` goes to this endpoint. A type is named by its kind
        (``created``) or its full CloudEvents type."""
        if self.event_types and not (kind in self.event_types
                                     or type_of(kind) in self.event_types):
            return False
        return not self.projects or project_id in self.projects
