"""What DNS records an instance should have: a pure function.

Forward A/AAAA records for fixed IPs (and, with their own template, for
floating IPs) in the forward zone; PTR records for every address inside a
configured reverse zone. Names come from templates with the variables
``hostname``, ``display_name``, ``uuid``, ``project_id``, ``network_label``,
``dashed_ip`` and ``octets`` (``{octets[3]}``), sanitized to valid labels.
"""

import dataclasses
import functools
import ipaddress
import re
from typing import FrozenSet, List, Optional, Sequence, Tuple

from novahooks_core.models import Instance, NetworkInfo

_INVALID = re.compile(r'[^a-z0-9-]+')


@dataclasses.dataclass(frozen=True, order=True)
class Record:
    """One resource record: absolute owner name, type, value, TTL, zone."""

    zone: str
    name: str
    rtype: str
    value: str
    ttl: int


@dataclasses.dataclass(frozen=True)
class Settings:
    """The ``[dns]`` options the records depend on."""

    zone: str
    reverse_zones: Tuple[str, ...] = ()
    ttl: int = 300
    forward_template: str = '{hostname}'
    floating_template: str = ''
    networks: Tuple[str, ...] = ()


def absolute(name: str) -> str:
    """``name`` lower-cased with exactly one trailing dot."""
    return name.strip().rstrip('.').lower() + '.'


def label(text: Optional[str], fallback: str = 'host') -> str:
    """A valid DNS label (RFC 1123) made from any text."""
    cleaned = _INVALID.sub('-', (text or '').lower()).strip('-')[:63]
    return cleaned.strip('-') or fallback


def _render(template: str, zone: str, variables: dict) -> Optional[str]:
    try:
        rendered = template.format(**variables)
    except (KeyError, IndexError, AttributeError, ValueError):
        return None
    labels = [label(part) for part in rendered.rstrip('.').split('.')
              if part]
    if not labels:
        return None
    if rendered.endswith('.'):
        return '.'.join(labels) + '.'
    return '.'.join(labels) + '.' + zone


def reverse_zone_of(address: str,
                    reverse_zones: Sequence[str]) -> Optional[str]:
    """The most specific configured reverse zone holding ``address``."""
    pointer = absolute(ipaddress.ip_address(address).reverse_pointer)
    best = None
    for zone in reverse_zones:
        if (pointer == zone or pointer.endswith('.' + zone)) and (
                best is None or len(zone) > len(best)):
            best = zone
    return best


def _variables(instance: Instance, network_label: Optional[str],
               address: Optional[str]) -> dict:
    ip = ipaddress.ip_address(address) if address else None
    octets: Tuple[str, ...] = (
        () if ip is None else tuple(str(ip).split('.')) if ip.version == 4
        else tuple(ip.exploded.split(':')))
    return {
        'hostname': label(instance.hostname or instance.display_name,
                          fallback=label(instance.uuid, 'instance')),
        'display_name': label(instance.display_name),
        'uuid': instance.uuid or '',
        'project_id': instance.project_id or '',
        'network_label': label(network_label, 'net'),
        'dashed_ip': str(ip or '').replace('.', '-').replace(':', '-'),
        'octets': octets,
    }


def _wanted(vif_network_id: Optional[str], vif_label: Optional[str],
            networks: Sequence[str]) -> bool:
    return not networks or vif_network_id in networks or vif_label in networks


def desired_records(instance: Instance, network: Optional[NetworkInfo],
                    settings: Settings) -> FrozenSet[Record]:
    """Every record ``instance`` should have given its network info."""
    if network is None or not instance.uuid:
        return frozenset()
    zone = absolute(settings.zone)
    reverse = tuple(absolute(z) for z in settings.reverse_zones)
    records: List[Record] = []
    for vif in network.vifs:
        if not _wanted(vif.network_id, vif.network_label, settings.networks):
            continue
        for ip in vif.fixed_ips:
            records.extend(_for_address(
                instance, vif.network_label, ip.address, settings.ttl, zone,
                reverse, settings.forward_template))
            if settings.floating_template:
                for floating in ip.floating_ips:
                    records.extend(_for_address(
                        instance, vif.network_label, floating, settings.ttl,
                        zone, reverse, settings.floating_template))
    return frozenset(records)


def _for_address(instance: Instance, network_label: Optional[str],
                 address: str, ttl: int, zone: str, reverse: Sequence[str],
                 template: str) -> Tuple[Record, ...]:
    return _records_for(instance.hostname, instance.display_name,
                        instance.uuid, instance.project_id, network_label,
                        address, ttl, zone, tuple(reverse), template)


@functools.lru_cache(maxsize=1024)
def _records_for(hostname: Optional[str], display_name: Optional[str],
                 uuid: Optional[str], project_id: Optional[str],
                 network_label: Optional[str], address: str, ttl: int,
                 zone: str, reverse: Tuple[str, ...], template: str
                 ) -> Tuple[Record, ...]:
    """The records of one address of an instance (of the fields names are
    made of), made once: each of an instance's notifications asks again
    (a pure function, so remembered)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return ()
    instance = Instance(hostname=hostname, display_name=display_name,
                        uuid=uuid, project_id=project_id)
    name = _render(template, zone, _variables(instance, network_label,
                                              address))
    if name is None:
        return ()
    found = []
    if name == zone or name.endswith('.' + zone):
        found.append(Record(zone, name, 'A' if ip.version == 4 else 'AAAA',
                            str(ip), ttl))
    reverse_zone = reverse_zone_of(str(ip), reverse)
    if reverse_zone:
        found.append(Record(reverse_zone, absolute(ip.reverse_pointer),
                            'PTR', name, ttl))
    return tuple(found)


def forward_name(instance: Instance, settings: Settings) -> Optional[str]:
    """The instance's forward name, when it does not depend on an IP."""
    template = settings.forward_template
    if 'ip' in template or 'octets' in template:
        return None
    return _render(template, absolute(settings.zone),
                   _variables(instance, None, None))


def pointer_address(name: str) -> Optional[str]:
    """The address a reverse name (``in-addr.arpa.``/``ip6.arpa.``) points
    from, or ``None``."""
    labels = name.rstrip('.').lower().split('.')
    try:
        if labels[-2:] == ['in-addr', 'arpa'] and len(labels) == 6:
            return str(ipaddress.IPv4Address('.'.join(reversed(labels[:4]))))
        if labels[-2:] == ['ip6', 'arpa'] and len(labels) == 34:
            nibbles = ''.join(reversed(labels[:32]))
            return str(ipaddress.IPv6Address(':'.join(
                nibbles[i:i + 4] for i in range(0, 32, 4))))
    except ValueError:
        return None
    return None


def could_be_floating(record: Record, instance: Instance,
                      settings: Settings) -> bool:
    """Whether ``record`` is one the floating template would make for the
    instance (its own address taken as the floating IP): while a source
    carries no floating IPs, such a record is kept, not removed."""
    if not settings.floating_template:
        return False
    if '{network_label' in settings.floating_template:
        return True  # which network it was on is not known here: keep
    address = (record.value if record.rtype in ('A', 'AAAA')
               else pointer_address(record.name))
    if address is None:
        return False
    return record in set(_for_address(
        instance, None, address, record.ttl, absolute(settings.zone),
        tuple(absolute(z) for z in settings.reverse_zones),
        settings.floating_template))
