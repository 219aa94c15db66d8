"""Network info: Nova's network model, a list of VIF dicts or the JSON
of ``instance_info_caches``, to :class:`~novahooks_core.models.NetworkInfo`;
its cheap key (which must read what :func:`network_info` reads); and the
way back to Nova's shape."""

import json
import operator
from typing import Any, Dict, Hashable, List, Mapping, Optional, Tuple

from novahooks_core import models
from novahooks_core.normalize.fields import (
    EMPTY,
    MAPPING,
    BadInput,
    items,
    mapping,
    read_field,
)
from novahooks_core.normalize.scalars import as_bool, as_int, as_str


def _floating_ips(value: Any) -> Tuple[str, ...]:
    return tuple(a for a in (as_str(mapping(f).get('address'))
                             for f in items(value)) if a)



def _subnet(subnet: Mapping[str, Any]) -> models.Subnet:
    ips = []
    for item in items(subnet.get('ips')):
        ip = mapping(item)
        address = as_str(ip.get('address'))
        if address:
            ips.append(models.IpAddress(
                address=address, version=as_int(ip.get('version')),
                type=as_str(ip.get('type')) or 'fixed',
                floating_ips=_floating_ips(ip.get('floating_ips'))))
    return models.Subnet(
        cidr=as_str(subnet.get('cidr')),
        version=as_int(subnet.get('version')),
        gateway=as_str(mapping(subnet.get('gateway')).get('address')),
        dns=tuple(a for a in (as_str(mapping(d).get('address'))
                              for d in items(subnet.get('dns'))) if a),
        ips=tuple(ips))


def _vif(vif: Mapping[str, Any]) -> models.Vif:
    network = mapping(vif.get('network'))
    meta = mapping(network.get('meta'))
    return models.Vif(
        id=as_str(vif.get('id')),
        address=as_str(vif.get('address')),
        type=as_str(vif.get('type')),
        active=as_bool(vif.get('active')),
        vnic_type=as_str(vif.get('vnic_type')),
        devname=as_str(vif.get('devname')),
        network_id=as_str(network.get('id')),
        network_label=as_str(network.get('label')),
        bridge=as_str(network.get('bridge')),
        tenant_id=as_str(meta.get('tenant_id')),
        mtu=as_int(meta.get('mtu')),
        subnets=tuple(_subnet(s) for s in items(network.get('subnets'))
                      if isinstance(s, MAPPING)))


def _nova_ip(address: Optional[str], version: Optional[int], kind: str
             ) -> Optional[Dict[str, Any]]:
    return ({'address': address, 'type': kind, 'version': version,
             'meta': {}} if address else None)


def nova_network_info(network: models.NetworkInfo) -> List[Dict[str, Any]]:
    """``network`` in Nova's own shape: the JSON of
    ``instance_info_caches.network_info``, which Nova's
    ``NetworkInfo.hydrate`` reads, and which :func:`network_info` reads
    back to the same model (the inverse of :func:`_vif`)."""
    found = []
    for vif in network.vifs:
        meta: Dict[str, Any] = {}
        if vif.tenant_id:
            meta['tenant_id'] = vif.tenant_id
        if vif.mtu is not None:
            meta['mtu'] = vif.mtu
        subnets = [{
            'cidr': s.cidr, 'version': s.version, 'meta': {}, 'routes': [],
            'gateway': _nova_ip(s.gateway, s.version, 'gateway'),
            'dns': [_nova_ip(d, s.version, 'dns') for d in s.dns],
            'ips': [dict(_nova_ip(ip.address, ip.version, ip.type) or {},
                         floating_ips=[_nova_ip(f, ip.version, 'floating')
                                       for f in ip.floating_ips])
                    for ip in s.ips]} for s in vif.subnets]
        found.append({
            'id': vif.id, 'address': vif.address, 'type': vif.type,
            'active': bool(vif.active), 'vnic_type': vif.vnic_type or 'normal',
            'devname': vif.devname, 'details': {}, 'profile': {},
            'meta': {}, 'preserve_on_delete': False,
            'network': {'id': vif.network_id, 'label': vif.network_label,
                        'bridge': vif.bridge, 'meta': meta,
                        'subnets': subnets}})
    return found


def is_pending_async(value: Any) -> bool:
    """True for a ``NetworkInfoAsyncWrapper`` whose allocation still runs.

    Touching its contents would block on the allocation, so it is read as
    unknown until Nova itself has waited for it.
    """
    return getattr(value, '_gt', None) is not None


def network_info(value: Any) -> Optional[models.NetworkInfo]:
    """A :class:`NetworkInfo` from Nova's model, a list of dicts or JSON.

    ``None`` (and a still-running async allocation) is unknown, not empty.
    """
    if value is None or is_pending_async(value):
        return None
    if isinstance(value, (str, bytes, bytearray)):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise BadInput('network info text is not JSON (or nested '
                           'beyond reason)') from None
        if value is None:
            return None
    if not isinstance(value, (list, tuple)):
        raise BadInput('network info is a %s, expected a list of VIFs'
                       % type(value).__name__)
    return models.NetworkInfo(
        vifs=tuple(_vif(v) for v in value if isinstance(v, MAPPING)))


def network_info_key(value: Any) -> Optional[Hashable]:
    """A cheap key of a raw network info: two values with equal keys
    normalize to equal :class:`NetworkInfo` models.

    It reads the same fields as :func:`network_info` without building
    models (a fraction of the cost), so a caller can recognise an
    unchanged cache before normalizing it. ``None`` when the value has no
    cheap key (unknown, JSON text, or an odd shape): normalize it then.
    (Leaves are compared with ``==``, so ``1`` and ``True`` in the same
    field would match; Nova's model never alternates like that.)
    """
    if not isinstance(value, _LISTS) or is_pending_async(value):
        return None
    try:
        key = tuple([_vif_key(vif) for vif in value])
        hash(key)  # unhashable leaves are odd shapes: no key
    except (_NoKey, KeyError, AttributeError, TypeError):
        # A missing key Nova's model always has, a non-dict where it has a
        # dict or another odd shape: normalization judges those.
        return None
    return key


class _NoKey(Exception):
    pass


_LISTS = (list, tuple)
# Nova's network model sets every one of these keys (None by default), so
# each level is read in one C call; a dict without them has no cheap key.
_VIF_FIELDS = operator.itemgetter('id', 'address', 'type', 'active',
                                  'vnic_type', 'devname', 'network')
_NETWORK_FIELDS = operator.itemgetter('id', 'label', 'bridge', 'meta',
                                      'subnets')
_SUBNET_FIELDS = operator.itemgetter('cidr', 'version', 'gateway', 'ips',
                                     'dns')
_IP_FIELDS = operator.itemgetter('address', 'version', 'type',
                                 'floating_ips')


def _vif_key(vif: Any) -> Tuple[Any, ...]:
    # Written out flat: it runs on every hooked call that is not a create
    # (see tools/bench/bench_nova_hooks.py). Every list must be a list, as
    # items() reads it.
    if not isinstance(vif, dict):
        raise _NoKey()
    *fields, network = _VIF_FIELDS(vif)
    network_id, label, bridge, meta, subnets = _NETWORK_FIELDS(
        network or EMPTY)
    meta = meta or EMPTY
    if not subnets:
        subnets = ()
    elif not isinstance(subnets, _LISTS):
        raise _NoKey()
    subnet_keys = []
    for subnet in subnets:
        cidr, version, gateway, ips, dns = _SUBNET_FIELDS(subnet)
        ip_keys = []
        if ips:
            if not isinstance(ips, _LISTS):
                raise _NoKey()
            for ip in ips:
                address, ip_version, kind, floating = _IP_FIELDS(ip)
                if floating:
                    if not isinstance(floating, _LISTS):
                        raise _NoKey()
                    floating = tuple([(f or EMPTY).get('address')
                                      for f in floating])
                else:
                    floating = ()
                ip_keys.append((address, ip_version, kind, floating))
        if dns:
            if not isinstance(dns, _LISTS):
                raise _NoKey()
            dns = tuple([(d or EMPTY).get('address') for d in dns])
        else:
            dns = ()
        subnet_keys.append((cidr, version, (gateway or EMPTY).get('address'),
                            dns, tuple(ip_keys)))
    return (tuple(fields), network_id, label, bridge, meta.get('tenant_id'),
            meta.get('mtu'), tuple(subnet_keys))


def raw_info_cache_network_info(instance: Any) -> Any:
    """The raw network info in an instance's ``info_cache``, if loaded."""
    cache = read_field(instance, 'info_cache')
    return None if cache is None else read_field(cache, 'network_info')


def info_cache_network_info(instance: Any) -> Optional[models.NetworkInfo]:
    """The network info held in an instance's ``info_cache``, if loaded."""
    return network_info(raw_info_cache_network_info(instance))
