"""Typed, frozen models of what Nova hands to hooks.

Models are built only by :mod:`novahooks_core.normalize`; plugin code never
sees a raw Nova object. Secrets (admin password, user data, key data,
injected file contents, volume ``connection_info``) have no field here, so a
model can be logged or stored as it is.
"""

import collections.abc
import dataclasses
import enum
import json
from typing import Any, Dict, FrozenSet, Mapping, Optional, Tuple

from novahooks_core.state.lru import LRU


class HookPoint(str, enum.Enum):
    """The four places Nova runs hooks."""

    CREATE_INSTANCE = 'create_instance'
    BUILD_INSTANCE = 'build_instance'
    DELETE_INSTANCE = 'delete_instance'
    INSTANCE_NETWORK_INFO = 'instance_network_info'

    # The value's hash (equal members and strings compare equal anyway), in
    # C: members key the dispatcher's tables, read on every hooked call.
    __hash__ = str.__hash__


class Phase(str, enum.Enum):
    """Before (``pre``) or after (``post``) the hooked Nova function."""

    PRE = 'pre'
    POST = 'post'

    __hash__ = str.__hash__  # as HookPoint's


class Outcome(str, enum.Enum):
    """How one handler's call ended, as counted and reported."""

    OK = 'ok'
    VETO = 'veto'  # it refused the request
    BAD_INPUT = 'bad_input'  # Nova handed over something unusable
    ERROR = 'error'  # it failed (Nova went on)
    UNCHANGED = 'unchanged'  # nothing it tracks changed: not called
    SKIPPED = 'skipped'  # disabled, or its phase not handled

    __hash__ = str.__hash__  # as HookPoint's
    # Shown as its value in logs, tables, metrics labels and JSON, on
    # every Python (3.12 changed what format() of a mixed-in enum gives).
    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(self, spec)


@dataclasses.dataclass(frozen=True)
class Flavor:
    """A Nova flavor (``instance_type``)."""

    id: Optional[int] = None
    name: Optional[str] = None
    flavorid: Optional[str] = None
    memory_mb: Optional[int] = None
    vcpus: Optional[int] = None
    root_gb: Optional[int] = None
    ephemeral_gb: Optional[int] = None
    swap: Optional[int] = None
    rxtx_factor: Optional[float] = None
    vcpu_weight: Optional[int] = None
    disabled: Optional[bool] = None
    is_public: Optional[bool] = None
    extra_specs: Mapping[str, str] = dataclasses.field(default_factory=dict)
    description: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class IpAddress:
    """A fixed IP address and the floating IPs associated with it."""

    address: str
    version: Optional[int] = None
    type: str = 'fixed'
    floating_ips: Tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Subnet:
    """A subnet of a VIF's network, with the VIF's addresses in it."""

    cidr: Optional[str] = None
    version: Optional[int] = None
    gateway: Optional[str] = None
    dns: Tuple[str, ...] = ()
    ips: Tuple[IpAddress, ...] = ()


@dataclasses.dataclass(frozen=True)
class Vif:
    """A virtual interface: one port of an instance."""

    id: Optional[str] = None
    address: Optional[str] = None
    type: Optional[str] = None
    active: Optional[bool] = None
    vnic_type: Optional[str] = None
    devname: Optional[str] = None
    network_id: Optional[str] = None
    network_label: Optional[str] = None
    bridge: Optional[str] = None
    tenant_id: Optional[str] = None
    mtu: Optional[int] = None
    subnets: Tuple[Subnet, ...] = ()

    @property
    def fixed_ips(self) -> Tuple[IpAddress, ...]:
        """Every fixed IP of this VIF, across its subnets."""
        return tuple(ip for subnet in self.subnets for ip in subnet.ips)


#: Fields a source may not carry, by model: ``vif.<field>``,
#: ``subnet.<field>``, ``ip.<field>`` (see :attr:`NetworkInfo.unknown`).
UNKNOWABLE = frozenset(
    ['vif.' + name for name in ('type', 'active', 'vnic_type', 'network_id',
                                'bridge', 'tenant_id', 'mtu')]
    + ['subnet.' + name for name in ('cidr', 'gateway', 'dns')]
    + ['ip.floating_ips'])


@dataclasses.dataclass(frozen=True)
class NetworkInfo:
    """An instance's network-info cache: its VIFs in order.

    ``unknown`` names the fields its source does not carry (a versioned
    notification has no floating IPs, network ids, CIDRs, VIF type or
    active flag): their values here are placeholders, never "none". A hook
    call carries everything (``unknown`` is empty). See
    :func:`merge_network_info`.
    """

    vifs: Tuple[Vif, ...] = ()
    unknown: FrozenSet[str] = frozenset()

    @property
    def fixed_ips(self) -> Tuple[IpAddress, ...]:
        """Every fixed IP of every VIF."""
        return tuple(ip for vif in self.vifs for ip in vif.fixed_ips)

    @property
    def floating_ips(self) -> Tuple[str, ...]:
        """Every floating IP address of every VIF."""
        return tuple(f for ip in self.fixed_ips for f in ip.floating_ips)

    def __len__(self) -> int:
        return len(self.vifs)


@dataclasses.dataclass(frozen=True)
class BlockDevice:
    """A block-device mapping, without its ``connection_info``."""

    source_type: Optional[str] = None
    destination_type: Optional[str] = None
    boot_index: Optional[int] = None
    device_name: Optional[str] = None
    device_type: Optional[str] = None
    disk_bus: Optional[str] = None
    guest_format: Optional[str] = None
    delete_on_termination: Optional[bool] = None
    volume_id: Optional[str] = None
    snapshot_id: Optional[str] = None
    image_id: Optional[str] = None
    volume_size: Optional[int] = None
    volume_type: Optional[str] = None
    attachment_id: Optional[str] = None
    uuid: Optional[str] = None
    tag: Optional[str] = None
    no_device: Optional[bool] = None


@dataclasses.dataclass(frozen=True)
class Instance:
    """A Nova instance; fields Nova had not loaded are ``None``."""

    uuid: Optional[str] = None
    id: Optional[int] = None
    hostname: Optional[str] = None
    display_name: Optional[str] = None
    project_id: Optional[str] = None
    user_id: Optional[str] = None
    host: Optional[str] = None
    node: Optional[str] = None
    availability_zone: Optional[str] = None
    vm_state: Optional[str] = None
    task_state: Optional[str] = None
    power_state: Optional[int] = None
    image_ref: Optional[str] = None
    key_name: Optional[str] = None
    reservation_id: Optional[str] = None
    launched_at: Optional[str] = None
    terminated_at: Optional[str] = None
    deleted: Optional[bool] = None
    metadata: Mapping[str, str] = dataclasses.field(default_factory=dict)
    tags: Tuple[str, ...] = ()
    flavor: Optional[Flavor] = None
    network_info: Optional[NetworkInfo] = None


@dataclasses.dataclass(frozen=True)
class RequestedNetwork:
    """One entry of a create request's ``requested_networks``."""

    network_id: Optional[str] = None
    port_id: Optional[str] = None
    address: Optional[str] = None
    tag: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class CreateRequest:
    """The user-visible parts of ``compute.api.API.create``'s arguments.

    Secrets are reduced to facts about them: whether an admin password or
    key data was given, how large the user data is, how many files were
    injected.
    """

    image_ref: Optional[str] = None
    display_name: Optional[str] = None
    display_description: Optional[str] = None
    key_name: Optional[str] = None
    availability_zone: Optional[str] = None
    min_count: Optional[int] = None
    max_count: Optional[int] = None
    security_groups: Tuple[str, ...] = ()
    metadata: Mapping[str, str] = dataclasses.field(default_factory=dict)
    tags: Tuple[str, ...] = ()
    requested_networks: Tuple[RequestedNetwork, ...] = ()
    block_devices: Tuple[BlockDevice, ...] = ()
    config_drive: Optional[bool] = None
    has_admin_password: bool = False
    has_key_data: bool = False
    user_data_bytes: int = 0
    injected_files_count: int = 0


@dataclasses.dataclass(frozen=True)
class RequestInfo:
    """Who asked, from Nova's ``RequestContext`` (never its token)."""

    request_id: Optional[str] = None
    project_id: Optional[str] = None
    user_id: Optional[str] = None


def to_primitive(model: Any) -> Any:
    """A JSON-ready copy of a model (dicts, lists, plain values)."""
    if model is None or type(model) in _PLAIN:
        return model
    if isinstance(model, enum.Enum):
        return model.value
    names = _FIELD_NAMES.get(type(model))
    if names is None and dataclasses.is_dataclass(model):
        names = _FIELD_NAMES[type(model)] = tuple(
            f.name for f in dataclasses.fields(model))
    # A plain value is taken as it is without a call: most fields are.
    if names is not None:
        found: Dict[str, Any] = {}
        for name in names:
            value = getattr(model, name)
            found[name] = (value if value is None or type(value) in _PLAIN
                           else to_primitive(value))
        return found
    if isinstance(model, collections.abc.Mapping):
        return {str(k): to_primitive(v) for k, v in model.items()}
    if isinstance(model, (tuple, list)):
        return [v if v is None or type(v) in _PLAIN else to_primitive(v)
                for v in model]
    if isinstance(model, (set, frozenset)):
        return sorted(to_primitive(v) for v in model)
    return model


def network_info_from_primitive(data: Mapping[str, Any]) -> NetworkInfo:
    """A :class:`NetworkInfo` back from :func:`to_primitive`'s output (as
    stored in a database or a spool)."""
    return NetworkInfo(vifs=tuple(
        Vif(**dict(v, subnets=tuple(
            Subnet(**dict(s, dns=tuple(s['dns']), ips=tuple(
                IpAddress(**dict(ip, floating_ips=tuple(
                    ip['floating_ips']))) for ip in s['ips'])))
            for s in v['subnets'])))
        for v in data['vifs']), unknown=frozenset(data.get('unknown', ())))


#: Network info by the JSON text it was stored as (:func:`network_info_json`
#: and :func:`network_info_from_json`), the least recently used forgotten.
_by_json: LRU[str, NetworkInfo] = LRU(512)


def network_info_json(network: NetworkInfo) -> str:
    """The canonical JSON text a plugin stores ``network`` as; the text is
    remembered as standing for ``network`` (:func:`network_info_from_json`
    then reads it back without decoding: the next notification of the
    instance does)."""
    text = json.dumps(to_primitive(network), sort_keys=True)
    _by_json.put(text, network)
    return text


def network_info_from_json(text: str) -> Optional[NetworkInfo]:
    """The network info a plugin stored as ``text`` (``None`` for
    ``null``), decoded once per text. Network info is immutable, so it is
    shared."""
    found = _by_json.get(text)
    if found is None:
        data = json.loads(text)
        if data is None:
            return None
        found = network_info_from_primitive(data)
        _by_json.put(text, found)
    return found


def _filled(new: Any, known: Any, prefix: str, unknown: FrozenSet[str]
            ) -> Dict[str, Any]:
    """The fields of ``new`` that its source did not carry, from
    ``known``."""
    return {name.split('.', 1)[1]: getattr(known, name.split('.', 1)[1])
            for name in unknown if name.startswith(prefix)
            and hasattr(new, name.split('.', 1)[1])}


def merge_network_info(known: Optional[NetworkInfo], new: NetworkInfo
                       ) -> NetworkInfo:
    """``new`` with what its source does not carry (``new.unknown``) taken
    from ``known``: a pure function.

    VIFs are matched by port id, else MAC; a subnet by IP version and the
    addresses it shares; an address by itself. Presence is what ``new``
    says (a VIF or address it lacks is gone); only the unknown fields come
    from ``known``. Fields known by neither stay unknown.
    """
    if not new.unknown or known is None:
        return new
    by_id = {v.id: v for v in known.vifs if v.id}
    by_mac = {v.address: v for v in known.vifs if v.address}
    vifs = []
    for vif in new.vifs:
        old = ((by_id.get(vif.id) if vif.id else None)
               or (by_mac.get(vif.address) if vif.address else None))
        if old is None:
            vifs.append(vif)
            continue
        subnets = []
        for subnet in vif.subnets:
            addresses = {ip.address for ip in subnet.ips}
            candidates = [s for s in old.subnets
                          if s.version == subnet.version or
                          addresses & {ip.address for ip in s.ips}]
            match = max(candidates, default=None, key=lambda s: len(
                addresses & {ip.address for ip in s.ips}))
            if match is None:
                subnets.append(subnet)
                continue
            old_ips = {ip.address: ip for ip in match.ips}
            ips = tuple(
                dataclasses.replace(ip, **_filled(
                    ip, old_ips[ip.address], 'ip.', new.unknown))
                if ip.address in old_ips else ip for ip in subnet.ips)
            subnets.append(dataclasses.replace(
                subnet, ips=ips, **_filled(subnet, match, 'subnet.',
                                           new.unknown)))
        vifs.append(dataclasses.replace(
            vif, subnets=tuple(subnets),
            **_filled(vif, old, 'vif.', new.unknown)))
    return NetworkInfo(vifs=tuple(vifs), unknown=new.unknown & known.unknown)


_PLAIN = frozenset([str, int, float, bool])
_FIELD_NAMES: Dict[type, Tuple[str, ...]] = {}

