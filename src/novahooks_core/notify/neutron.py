"""Neutron's notifications: the floating IPs Nova's do not carry.

Nova's versioned notifications have no floating IPs, so with
``[listen] neutron = true`` the listener also consumes Neutron's (exchange
``neutron``, topic ``notifications``, legacy format: the payload is a
plain dict, ``{"floatingip": {...}}`` or ``{"port": {...}}``):

=========================== ================================================
``floatingip.create.end``,  the floating IP, its ``port_id`` and
``floatingip.update.end``   ``fixed_ip_address`` (null when disassociated),
                            ``port_details`` (the port's ``device_id`` and
                            ``device_owner``), ``revision_number``,
                            ``updated_at``
``floatingip.delete.end``   ``floatingip_id`` and the floating IP as it was
``port.create.end``,        the port: its ``device_id`` (the instance when
``port.update.end``         ``device_owner`` starts with ``compute:``)
``port.delete.end``         ``port_id`` and the port as it was; deleting a
                            port that holds a floating IP sends no
                            floating-IP event: its association goes too
=========================== ================================================

Each becomes a :class:`Fact` (a floating IP or a port as Neutron last told
it). Facts are kept by the listener (:mod:`.guard`) under the same rules as
Nova's notifications (:func:`verdict`: per floating IP or port, by
``revision_number`` then ``updated_at``; a deletion is final), and
:func:`overlay` puts the floating IPs of an instance's ports on the network
info Nova's notifications give: handlers see one :class:`NetworkInfo`
whatever mix of sources fed it. Everything here is pure.
"""

import dataclasses
import datetime
import ipaddress
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from oslo_utils import timeutils

from novahooks_core import models
from novahooks_core.normalize import BadInput, as_str
from novahooks_core.notify.facts import COMPUTE_OWNER, Fact, Verdict

FLOATING_IP, PORT = 'floatingip', 'port'

#: The Neutron notifications the listener reads.
EVENT_TYPES = ('floatingip.create.end', 'floatingip.update.end',
               'floatingip.delete.end', 'port.create.end', 'port.update.end',
               'port.delete.end')

#: What is kept of a payload to retry or replay it (nothing else: a port's
#: binding profile and the like are not ours to keep).
_KEPT = {
    FLOATING_IP: ('id', 'floating_ip_address', 'fixed_ip_address',
                  'port_id', 'router_id', 'floating_network_id',
                  'project_id', 'tenant_id', 'status', 'revision_number',
                  'updated_at', 'port_details'),
    PORT: ('id', 'device_id', 'device_owner', 'network_id', 'project_id',
           'tenant_id', 'status', 'revision_number', 'updated_at',
           'fixed_ips', 'mac_address'),
}
_PORT_DETAILS = ('device_id', 'device_owner', 'network_id', 'status',
                 'mac_address')


def kind_of(event_type: str) -> Optional[str]:
    """``floatingip`` or ``port`` for the event types read here."""
    if event_type not in EVENT_TYPES:
        return None
    return event_type.split('.', 1)[0]


def _body(kind: str, payload: Any) -> Mapping[str, Any]:
    if not isinstance(payload, Mapping):
        raise BadInput('%s notification payload is a %s, expected a dict'
                       % (kind, type(payload).__name__))
    body = payload.get(kind)
    if body is None and kind + '_id' in payload:
        body = {'id': payload[kind + '_id']}  # a bare deletion
    if not isinstance(body, Mapping):
        raise BadInput('%s notification without its "%s" dict' % (kind, kind))
    return body


def _revision(value: Any) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise BadInput('revision_number is a %s' % type(value).__name__)
    try:
        return int(value)
    except ValueError:
        raise BadInput('revision_number %r is not a number' % value) from None


def _time(value: Any) -> Optional[datetime.datetime]:
    if not value:
        return None
    try:
        found = timeutils.parse_isotime(str(value))
    except ValueError:
        raise BadInput('updated_at %r is not a time' % value) from None
    return timeutils.normalize_time(found)


def _address(value: Any, what: str) -> Optional[str]:
    text = as_str(value)
    if not text:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise BadInput('%s %r is not an IP address' % (what, text)) from None


def read(event_type: str, payload: Any) -> Optional[Fact]:
    """The fact a Neutron notification tells, or ``None`` for a type not
    read here. Raises :class:`BadInput` when the payload cannot be read."""
    kind = kind_of(event_type)
    if kind is None:
        return None
    body = _body(kind, payload)
    ident = as_str(body.get('id')) or as_str(payload.get(kind + '_id'))
    if not ident:
        raise BadInput('%s without an id' % event_type)
    deleted = event_type.endswith('.delete.end')
    base = Fact(kind, ident, _revision(body.get('revision_number')),
                _time(body.get('updated_at')), deleted)
    if kind == PORT:
        return dataclasses.replace(
            base, device_id=as_str(body.get('device_id')),
            device_owner=as_str(body.get('device_owner')))
    details = body.get('port_details')
    details = details if isinstance(details, Mapping) else {}
    port_id = as_str(body.get('port_id'))
    address = _address(body.get('floating_ip_address'), 'floating_ip_address')
    if address is None and not deleted:
        raise BadInput('%s %s without floating_ip_address'
                       % (event_type, ident))
    if not port_id:  # disassociated: no fixed IP, no port details
        return dataclasses.replace(base, address=address)
    return dataclasses.replace(
        base, address=address, port_id=port_id,
        fixed_ip=_address(body.get('fixed_ip_address'), 'fixed_ip_address'),
        device_id=as_str(details.get('device_id')),
        device_owner=as_str(details.get('device_owner')))


def from_floating_ip_list(items: Iterable[Mapping[str, Any]]) -> List[Fact]:
    """The floating IPs of ``openstack floating ip list --long -f json``
    (columns ``ID``, ``Floating IP Address``, ``Fixed IP Address``,
    ``Port``) as facts older than any notification (no revision, no time):
    what the listener starts from. Raises :class:`BadInput` naming the
    item it cannot read."""
    found = []
    for index, item in enumerate(items):
        try:
            port_id = as_str(item.get('Port'))
            address = _address(item.get('Floating IP Address'),
                               'Floating IP Address')
            if address is None:
                raise BadInput('no "Floating IP Address"')
            found.append(Fact(
                FLOATING_IP, str(item['ID']).strip(), None, None,
                address=address, port_id=port_id,
                fixed_ip=_address(item.get('Fixed IP Address'),
                                  'Fixed IP Address') if port_id else None))
        except (BadInput, KeyError, AttributeError) as exc:
            raise BadInput('item %d: %s' % (index, exc)) from None
    return found


def kept(event_type: str, payload: Any) -> Optional[Dict[str, Any]]:
    """What is kept of a Neutron payload to retry or replay it: the fields
    read here (``None`` when it is not a Neutron payload read here)."""
    kind = kind_of(event_type)
    if kind is None or not isinstance(payload, Mapping):
        return None
    body = payload.get(kind)
    found: Dict[str, Any] = {}
    if kind + '_id' in payload:
        found[kind + '_id'] = as_str(payload[kind + '_id'])
    if isinstance(body, Mapping):
        inner = {key: body[key] for key in _KEPT[kind] if key in body}
        details = inner.get('port_details')
        if isinstance(details, Mapping):
            inner['port_details'] = {key: details[key] for key in
                                     _PORT_DETAILS if key in details}
        found[kind] = inner
    return found


def _key(fact: Any) -> Tuple[int, datetime.datetime]:
    return (fact.revision if fact.revision is not None else -1,
            fact.updated_at or datetime.datetime.min)


def verdict(known: Optional[Fact], fact: Fact) -> Verdict:
    """Whether ``fact`` may replace ``known`` (the newest fact kept about
    the same floating IP or port): a pure function.

    Ordered by ``revision_number``, then ``updated_at``; a deletion is
    final (a late update never brings a floating IP or port back) and
    wins over the update of the same revision it follows.
    """
    if known is None:
        return Verdict.RUN
    if known.deleted:
        return Verdict.DUPLICATE if fact.deleted else Verdict.DELETED
    if _key(fact) < _key(known):
        return Verdict.STALE
    if _key(fact) == _key(known) and fact.deleted == known.deleted and (
            dataclasses.replace(fact, revision=None) ==
            dataclasses.replace(known, revision=None)):
        return Verdict.DUPLICATE
    return Verdict.RUN


def instances_of(known: Optional[Fact], fact: Fact) -> Tuple[str, ...]:
    """The instances a fact concerns: its instance now and the one before
    (a floating IP or port moving from one instance to another)."""
    found: List[str] = []
    for item in (known, fact):
        uuid = item.instance if item is not None else None
        if uuid and uuid not in found:
            found.append(uuid)
    return tuple(found)


def overlay(network: models.NetworkInfo, floating: Iterable[Fact]
            ) -> models.NetworkInfo:
    """``network`` with the floating IPs associated with its VIFs' ports
    (``floating``: the live associated floating IPs, as kept), each on the
    fixed IP it is associated with (on the VIF's first fixed IP of the
    same version when that one is not there); floating IPs are then known
    (not in ``unknown``). A pure function."""
    by_port: Dict[str, List[Fact]] = {}
    for fip in floating:
        if fip.port_id and fip.address and not fip.deleted:
            by_port.setdefault(fip.port_id, []).append(fip)
    vifs = []
    for vif in network.vifs:
        fips = by_port.get(vif.id or '', [])
        placed: Dict[Tuple[int, int, int], List[str]] = {}
        fixed = [(s, i, ip) for s, subnet in enumerate(vif.subnets)
                 for i, ip in enumerate(subnet.ips)]
        for fip in sorted(fips, key=lambda f: f.address or ''):
            version = ipaddress.ip_address(fip.address or '').version
            target = next((spot for spot in fixed
                           if spot[2].address == fip.fixed_ip), None)
            if target is None:
                target = next((spot for spot in fixed if (
                    spot[2].version or ipaddress.ip_address(
                        spot[2].address).version) == version), None)
            if target is not None:
                placed.setdefault((target[0], target[1], 0), []).append(
                    fip.address or '')
        subnets = tuple(dataclasses.replace(subnet, ips=tuple(
            dataclasses.replace(ip, floating_ips=tuple(
                placed.get((s, i, 0), ())))
            for i, ip in enumerate(subnet.ips)))
            for s, subnet in enumerate(vif.subnets))
        vifs.append(dataclasses.replace(vif, subnets=subnets))
    return models.NetworkInfo(vifs=tuple(vifs),
                              unknown=network.unknown - {'ip.floating_ips'})


__all__ = ['COMPUTE_OWNER', 'EVENT_TYPES', 'FLOATING_IP', 'Fact', 'PORT',
           'from_floating_ip_list', 'instances_of', 'kept', 'kind_of',
           'overlay', 'read', 'verdict']
