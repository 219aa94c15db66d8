"""Turn whatever Nova hands over (releases 12 to 21) into models.

Every reader here tolerates ``nova.objects`` instances (whose unset fields
must not be touched: reading one triggers a lazy load), plain dicts, Nova's
network-model dicts and JSON text. A missing or malformed field becomes
``None``; a value of an altogether wrong kind where an object is required
raises :class:`BadInput`, which the hook base logs and counts.
"""

import collections.abc
import datetime
import ipaddress
import json
import operator
from typing import (
    Any,
    Callable,
    Dict,
    Hashable,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
)

from novahooks_core import models

_MISSING = object()
_SCALARS = (str, int, float, bool)
_Mapping = collections.abc.Mapping  # isinstance() on typing.Mapping is slow


class BadInput(ValueError):
    """Nova handed over a value of a kind no release ever passed."""


#: Where oslo.versionedobjects keeps a set field (``_get_attrname``).
_OBJ_PREFIX = '_obj_'


def read_field(obj: Any, name: str, default: Any = None) -> Any:
    """Read ``name`` from a Nova object, dict or plain object, never lazily.

    Nova objects answer ``obj_attr_is_set``; a field they have not loaded is
    reported as ``default`` instead of being fetched from the database. A
    set field is read where oslo.versionedobjects keeps it (``_obj_<name>``
    in the instance's ``__dict__``: the same value, without the field's
    getter or ``obj_attr_is_set``, which rebuilds the field list per call);
    a declared field absent from there is not set.
    """
    if obj is None:
        return default
    try:
        if isinstance(obj, dict):  # dicts, and Nova's network-model dicts
            return obj.get(name, default)
        if isinstance(obj, _Mapping):
            return obj.get(name, default)
        is_set = getattr(obj, 'obj_attr_is_set', None)
        if is_set is None:
            return getattr(obj, name, default)
        found = _stored(obj, name)
        if found is _UNSET:
            return default
        if found is not _MISSING:
            return found
        if not is_set(name):
            return default
        return getattr(obj, name, default)
    except Exception:
        return default


def _stored(obj: Any, name: str) -> Any:
    """A versioned object's field as stored (``_obj_<name>``), or
    :data:`_UNSET` for a declared field not set, or ``_MISSING`` when only
    the object can tell (an extra field, another kind of object)."""
    stored = getattr(obj, '__dict__', None)
    if stored is None:
        return _MISSING
    found = stored.get(_OBJ_PREFIX + name, _MISSING)
    if found is _MISSING and _declared(obj, name):
        return _UNSET
    return found


#: :func:`_stored`: a declared field that is not set.
_UNSET = object()


def _declared(obj: Any, name: str) -> bool:
    """Whether ``name`` is one of the versioned object's own fields."""
    fields = getattr(type(obj), 'fields', None)
    return isinstance(fields, dict) and name in fields


def read_fields(obj: Any, names: Sequence[str]) -> List[Any]:
    """:func:`read_field` for several names at once (``None`` if unset)."""
    try:
        if isinstance(obj, dict) or isinstance(obj, _Mapping):
            get = obj.get
            return [get(name) for name in names]
        is_set = getattr(obj, 'obj_attr_is_set', None)
        if is_set is None:
            return [getattr(obj, name, None) for name in names]
        stored = getattr(obj, '__dict__', None) or _EMPTY
        found = []
        for name in names:
            value = stored.get(_OBJ_PREFIX + name, _MISSING)
            if value is _MISSING:
                value = (None if _declared(obj, name) or not is_set(name)
                         else getattr(obj, name, None))
            found.append(value)
        return found
    except Exception:  # one field failed: read them one by one
        return [read_field(obj, name) for name in names]


def as_str(value: Any) -> Optional[str]:
    """A non-empty string, or ``None``."""
    if type(value) is str:
        return value or None
    if value is None or isinstance(value, (bytes, bytearray)):
        return None
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:  # Nova's DateTimeField means UTC
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.isoformat()
    if isinstance(value, _SCALARS):
        text = str(value)
        return text or None
    return None


def as_address(value: Any) -> Optional[str]:
    """An IP address in canonical text from a string or a
    ``netaddr.IPAddress`` (Nova's ``IPAddressField``), or ``None``."""
    if value is None or isinstance(value, (bytes, bytearray)):
        return None
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        return None


def as_int(value: Any) -> Optional[int]:
    """An integer, or ``None`` for anything that is not one."""
    if type(value) is int:
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def as_float(value: Any) -> Optional[float]:
    """A float, or ``None``."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def as_bool(value: Any) -> Optional[bool]:
    """A boolean from a bool or Nova's usual strings, or ``None``."""
    if value is True or value is False or value is None:
        return value
    if isinstance(value, int):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ('true', 't', 'yes', 'y', 'on', '1'):
            return True
        if lowered in ('false', 'f', 'no', 'n', 'off', '0'):
            return False
    return None


def as_str_map(value: Any) -> Mapping[str, str]:
    """A ``str -> str`` mapping; entries that are not scalars are dropped."""
    if not isinstance(value, _Mapping):
        return {}
    result = {}
    for key, item in value.items():
        text = as_str(item) if item is not None else ''
        if isinstance(key, str) and text is not None:
            result[key] = text
    return result


def as_str_tuple(value: Any) -> Tuple[str, ...]:
    """A tuple of strings from a list of strings or of named things."""
    if value is None or isinstance(value, (str, bytes, _Mapping)):
        value = [value] if isinstance(value, str) else []
    try:
        items = list(value)
    except TypeError:
        return ()
    result = []
    for item in items:
        text = as_str(item)
        if text is None:
            text = as_str(read_field(item, 'tag') or read_field(item, 'name'))
        if text is not None:
            result.append(text)
    return tuple(result)


def _require_object(value: Any, what: str) -> None:
    if isinstance(value, _SCALARS) or isinstance(value, (bytes, list, tuple)):
        raise BadInput('%s is a %s, expected a Nova object or dict'
                       % (what, type(value).__name__))


Schema = Tuple[Tuple[str, ...], Tuple[Callable[[Any], Any], ...]]


def schema(**converters: Callable[[Any], Any]) -> Schema:
    """Field names and the converter of each, in order."""
    return tuple(converters), tuple(converters.values())


def convert(obj: Any, fields: Schema) -> Dict[str, Any]:
    """Read and convert every field of a schema."""
    names, converters = fields
    return {name: conv(raw) for name, conv, raw
            in zip(names, converters, read_fields(obj, names))}


FLAVOR = schema(
    id=as_int, name=as_str, flavorid=as_str, memory_mb=as_int, vcpus=as_int,
    root_gb=as_int, ephemeral_gb=as_int, swap=as_int, rxtx_factor=as_float,
    vcpu_weight=as_int, disabled=as_bool, is_public=as_bool,
    extra_specs=as_str_map, description=as_str)


def flavor(value: Any) -> Optional[models.Flavor]:
    """A :class:`Flavor` from a ``nova.objects.Flavor`` or a Liberty dict."""
    if value is None:
        return None
    _require_object(value, 'flavor')
    return models.Flavor(**convert(value, FLAVOR))


def _floating_ips(value: Any) -> Tuple[str, ...]:
    return tuple(a for a in (as_str(_dict(f).get('address'))
                             for f in _items(value)) if a)


def _items(value: Any) -> Iterable[Any]:
    if isinstance(value, (list, tuple)):
        return value
    return ()


_EMPTY: Mapping[str, Any] = {}


def _dict(value: Any) -> Mapping[str, Any]:
    """Network-model entries are dicts (Nova's ``Model`` subclasses dict);
    anything else reads as empty."""
    return value if isinstance(value, _Mapping) else _EMPTY


def _subnet(subnet: Mapping[str, Any]) -> models.Subnet:
    ips = []
    for item in _items(subnet.get('ips')):
        ip = _dict(item)
        address = as_str(ip.get('address'))
        if address:
            ips.append(models.IpAddress(
                address=address, version=as_int(ip.get('version')),
                type=as_str(ip.get('type')) or 'fixed',
                floating_ips=_floating_ips(ip.get('floating_ips'))))
    return models.Subnet(
        cidr=as_str(subnet.get('cidr')),
        version=as_int(subnet.get('version')),
        gateway=as_str(_dict(subnet.get('gateway')).get('address')),
        dns=tuple(a for a in (as_str(_dict(d).get('address'))
                              for d in _items(subnet.get('dns'))) if a),
        ips=tuple(ips))


def _vif(vif: Mapping[str, Any]) -> models.Vif:
    network = _dict(vif.get('network'))
    meta = _dict(network.get('meta'))
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
        subnets=tuple(_subnet(s) for s in _items(network.get('subnets'))
                      if isinstance(s, _Mapping)))


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
        vifs=tuple(_vif(v) for v in value if isinstance(v, _Mapping)))


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
    # _items() reads it.
    if not isinstance(vif, dict):
        raise _NoKey()
    *fields, network = _VIF_FIELDS(vif)
    network_id, label, bridge, meta, subnets = _NETWORK_FIELDS(
        network or _EMPTY)
    meta = meta or _EMPTY
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
                    floating = tuple([(f or _EMPTY).get('address')
                                      for f in floating])
                else:
                    floating = ()
                ip_keys.append((address, ip_version, kind, floating))
        if dns:
            if not isinstance(dns, _LISTS):
                raise _NoKey()
            dns = tuple([(d or _EMPTY).get('address') for d in dns])
        else:
            dns = ()
        subnet_keys.append((cidr, version, (gateway or _EMPTY).get('address'),
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


_LEGACY_BDM_KEYS = ('virtual_name', 'volume_id', 'snapshot_id', 'no_device')
_SOURCE_IDS = ('volume_id', 'snapshot_id', 'image_id')

BLOCK_DEVICE = schema(
    source_type=as_str, destination_type=as_str, boot_index=as_int,
    device_name=as_str, device_type=as_str, disk_bus=as_str,
    guest_format=as_str, delete_on_termination=as_bool, volume_id=as_str,
    snapshot_id=as_str, image_id=as_str, volume_size=as_int,
    volume_type=as_str, attachment_id=as_str, uuid=as_str, tag=as_str,
    no_device=as_bool)


def block_device(value: Any) -> models.BlockDevice:
    """A :class:`BlockDevice` from a BDM object, a v2 dict (internal or API
    form with ``uuid``) or a legacy (v1) dict."""
    _require_object(value, 'block device mapping')
    source = as_str(read_field(value, 'source_type'))
    if (source is None and isinstance(value, _Mapping)
            and any(k in value for k in _LEGACY_BDM_KEYS)):
        return _legacy_block_device(value)
    fields = convert(value, BLOCK_DEVICE)
    api_uuid = fields['uuid']
    if isinstance(value, _Mapping) and source and api_uuid:
        # The API form names the source by ``uuid``; the object's ``uuid``
        # (17+) is the mapping's own id and comes with ``*_id`` fields.
        key = source + '_id'
        if key in _SOURCE_IDS and fields[key] is None:
            fields[key], fields['uuid'] = api_uuid, None
    return models.BlockDevice(**fields)


def _legacy_block_device(value: Mapping[str, Any]) -> models.BlockDevice:
    """Translate a v1 mapping the way Nova's ``BlockDeviceDict.from_legacy``
    does: volume or snapshot backed volumes, ephemeral and swap disks."""
    virtual_name = as_str(value.get('virtual_name')) or ''
    volume_id = as_str(value.get('volume_id'))
    snapshot_id = as_str(value.get('snapshot_id'))
    source: Optional[str]
    if snapshot_id:
        source, destination = 'snapshot', 'volume'
    elif volume_id:
        source, destination = 'volume', 'volume'
    elif virtual_name.startswith('ephemeral') or virtual_name == 'swap':
        source, destination = 'blank', 'local'
    else:
        source, destination = None, None
    return models.BlockDevice(
        source_type=source,
        destination_type=destination,
        device_name=as_str(value.get('device_name')),
        guest_format='swap' if virtual_name == 'swap' else None,
        delete_on_termination=as_bool(value.get('delete_on_termination')),
        volume_id=volume_id,
        snapshot_id=snapshot_id,
        volume_size=as_int(value.get('volume_size')),
        no_device=as_bool(value.get('no_device')))


def block_devices(value: Any) -> Tuple[models.BlockDevice, ...]:
    """Every mapping of a ``BlockDeviceMappingList`` or a list of dicts."""
    if value is None:
        return ()
    objects = read_field(value, 'objects', _MISSING)
    if objects is not _MISSING and not isinstance(value, (list, tuple)):
        value = objects
    if not isinstance(value, (list, tuple)):
        raise BadInput('block devices are a %s, expected a list'
                       % type(value).__name__)
    return tuple(block_device(v) for v in value if v is not None)


def _raw(value: Any) -> Any:
    return value


INSTANCE = schema(
    uuid=as_str, id=as_int, hostname=as_str, display_name=as_str,
    project_id=as_str, user_id=as_str, host=as_str, node=as_str,
    availability_zone=as_str, vm_state=as_str, task_state=as_str,
    power_state=as_int, image_ref=as_str, key_name=as_str,
    reservation_id=as_str, launched_at=as_str, terminated_at=as_str,
    deleted=as_bool, metadata=as_str_map, tags=_raw, flavor=_raw)


def instance(value: Any,
             network: Optional[models.NetworkInfo] = None
             ) -> Optional[models.Instance]:
    """An :class:`Instance` from a Nova ``Instance`` object or dict.

    ``network`` overrides what the instance's ``info_cache`` says.
    """
    if value is None:
        return None
    _require_object(value, 'instance')
    if network is None:
        try:
            network = info_cache_network_info(value)
        except BadInput:
            network = None
    fields = convert(value, INSTANCE)
    tags = fields.pop('tags')
    return models.Instance(
        tags=as_str_tuple(read_field(tags, 'objects') or tags),
        flavor=flavor(fields.pop('flavor')),
        network_info=network, **fields)


def requested_networks(value: Any) -> Tuple[models.RequestedNetwork, ...]:
    """Entries of a ``NetworkRequestList`` or a pre-object list of tuples
    ``(network_id, address, port_id[, pci_request_id])``."""
    objects = read_field(value, 'objects', _MISSING)
    if objects is not _MISSING and not isinstance(value, (list, tuple)):
        value = objects
    result = []
    for item in _items(value):
        if isinstance(item, (list, tuple)):
            padded = list(item) + [None] * 3
            result.append(models.RequestedNetwork(
                network_id=as_str(padded[0]), address=as_address(padded[1]),
                port_id=as_str(padded[2])))
        elif item is not None and not isinstance(item, _SCALARS):
            result.append(models.RequestedNetwork(
                network_id=as_str(read_field(item, 'network_id')),
                port_id=as_str(read_field(item, 'port_id')),
                address=as_address(read_field(item, 'address')),
                tag=as_str(read_field(item, 'tag'))))
    return tuple(result)


def _size(value: Any) -> int:
    if isinstance(value, (str, bytes, bytearray)):
        return len(value)
    return 0


def create_request(args: Mapping[str, Any]) -> models.CreateRequest:
    """A :class:`CreateRequest` from ``API.create``'s bound arguments.

    Secrets are read only to tell whether they were given, never copied.
    """
    injected = args.get('injected_files')
    return models.CreateRequest(
        image_ref=as_str(args.get('image_href')),
        display_name=as_str(args.get('display_name')),
        display_description=as_str(args.get('display_description')),
        key_name=as_str(args.get('key_name')),
        availability_zone=as_str(args.get('availability_zone')),
        min_count=as_int(args.get('min_count')),
        max_count=as_int(args.get('max_count')),
        security_groups=as_str_tuple(args.get('security_groups')),
        metadata=as_str_map(args.get('metadata')),
        tags=as_str_tuple(args.get('tags')),
        requested_networks=requested_networks(args.get('requested_networks')),
        block_devices=block_devices(args.get('block_device_mapping')),
        config_drive=as_bool(args.get('config_drive')),
        has_admin_password=bool(args.get('admin_password')),
        has_key_data=bool(args.get('key_data')),
        user_data_bytes=_size(args.get('user_data')),
        injected_files_count=(len(injected)
                              if isinstance(injected, (list, tuple)) else 0),
    )


def request_info(context: Any) -> models.RequestInfo:
    """Request id, project and user of a ``RequestContext`` (or dict)."""
    if context is None or isinstance(context, _SCALARS):
        return models.RequestInfo()
    return models.RequestInfo(
        request_id=as_str(read_field(context, 'request_id')),
        project_id=as_str(read_field(context, 'project_id')),
        user_id=as_str(read_field(context, 'user_id')))
