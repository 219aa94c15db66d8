"""What changed in an instance's network-info cache, and what looks wrong:
pure functions of the normalized models."""

import dataclasses
import hashlib
from typing import Dict, Iterable, List, Optional, Tuple

from novahooks_core.models import (
    Instance,
    NetworkInfo,
    Vif,
    merge_network_info,
)

FAILED_BINDINGS = ('binding_failed', 'unbound')


@dataclasses.dataclass(frozen=True)
class Change:
    """One meaningful change of one VIF."""

    kind: str
    vif_id: Optional[str]
    detail: str


def fingerprint(network: NetworkInfo) -> str:
    """A canonical digest: equal for equal caches, whatever the VIF order."""
    vifs = sorted(network.vifs, key=lambda v: v.id or '')
    return hashlib.sha1(repr(tuple(vifs)).encode()).hexdigest()


def _by_id(network: Optional[NetworkInfo]) -> Dict[str, Vif]:
    return {v.id or '?%d' % i: v
            for i, v in enumerate(network.vifs if network else ())}


def _floating(vif: Vif) -> Dict[str, str]:
    """floating IP -> the fixed IP it is associated with."""
    return {f: ip.address for ip in vif.fixed_ips for f in ip.floating_ips}


def diff(old: Optional[NetworkInfo], new: NetworkInfo) -> List[Change]:
    """Typed changes from ``old`` (None: nothing known) to ``new``."""
    before, after = _by_id(old), _by_id(new)
    changes: List[Change] = []
    for vif_id in sorted(set(after) - set(before)):
        vif = after[vif_id]
        changes.append(Change('vif_added', vif_id, '%s on %s' % (
            vif.address, vif.network_label or vif.network_id)))
    for vif_id in sorted(set(before) - set(after)):
        changes.append(Change('vif_removed', vif_id,
                              str(before[vif_id].address)))
    floating_before: Dict[str, Tuple[str, str]] = {}
    floating_after: Dict[str, Tuple[str, str]] = {}
    for vifs, floating in ((before, floating_before),
                           (after, floating_after)):
        for vif_id, vif in vifs.items():
            for address, fixed in _floating(vif).items():
                floating[address] = (vif_id, fixed)
    for vif_id in sorted(set(before) & set(after)):
        old_vif, new_vif = before[vif_id], after[vif_id]
        old_ips = {ip.address for ip in old_vif.fixed_ips}
        new_ips = {ip.address for ip in new_vif.fixed_ips}
        for address in sorted(new_ips - old_ips):
            changes.append(Change('fixed_ip_added', vif_id, address))
        for address in sorted(old_ips - new_ips):
            changes.append(Change('fixed_ip_removed', vif_id, address))
        if old_vif.active != new_vif.active:
            changes.append(Change('vif_active_changed', vif_id, '%s -> %s'
                                  % (old_vif.active, new_vif.active)))
        if old_vif.address != new_vif.address:
            changes.append(Change('mac_changed', vif_id, '%s -> %s' % (
                old_vif.address, new_vif.address)))
        if old_vif.network_id != new_vif.network_id:
            changes.append(Change('network_changed', vif_id, '%s -> %s' % (
                old_vif.network_id, new_vif.network_id)))
        if (new_vif.type in FAILED_BINDINGS
                and old_vif.type != new_vif.type):
            changes.append(Change('vif_' + ('binding_failed'
                                            if new_vif.type ==
                                            'binding_failed' else 'unbound'),
                                  vif_id, '%s -> %s' % (old_vif.type,
                                                        new_vif.type)))
    for address in sorted(set(floating_after) | set(floating_before)):
        was, now = floating_before.get(address), floating_after.get(address)
        if was is None and now is not None:
            changes.append(Change('floating_ip_associated', now[0],
                                  '%s -> %s' % (address, now[1])))
        elif was is not None and now is None:
            changes.append(Change('floating_ip_disassociated', was[0],
                                  address))
        elif was != now and was is not None and now is not None:
            changes.append(Change('floating_ip_moved', now[0],
                                  '%s: %s -> %s' % (address, was[1],
                                                    now[1])))
    return changes


def is_live(instance: Instance) -> bool:
    """Not being deleted and not deleted."""
    return (instance.vm_state not in ('deleted', 'soft-delete')
            and instance.task_state != 'deleting'
            and not instance.deleted)


def anomalies(instance: Instance, old: Optional[NetworkInfo],
              new: NetworkInfo) -> List[Change]:
    """What deserves a WARNING in this change of ``instance``'s cache."""
    found: List[Change] = []
    if old is not None and len(old) and not len(new) and is_live(instance):
        found.append(Change('cache_emptied', None, '%d VIF(s) gone from the '
                            'cache of a live instance' % len(old)))
    for vif in new.vifs:
        if vif.type == 'binding_failed':
            found.append(Change('binding_failed', vif.id,
                                'VIF %s on %s' % (vif.address,
                                                  vif.network_label)))
    if (instance.vm_state == 'active' and is_live(instance)
            and len(new) and not new.fixed_ips):
        found.append(Change('active_without_ip', None,
                            '%d VIF(s), no fixed IP' % len(new)))
    return found


@dataclasses.dataclass(frozen=True)
class Previous:
    """What the history holds for an instance: its last recorded network
    info, that one's fingerprint, and whether its emptying was alerted."""

    network: NetworkInfo
    fingerprint: str
    emptied_alerted: bool = False


@dataclasses.dataclass(frozen=True)
class Decision:
    """What one observed cache changes in an instance's history.

    ``network`` is the observed cache with what its source does not carry
    taken from the history; ``addresses`` its fixed IPs by network (for
    duplicate detection), ``last_good`` whether it is kept as the last
    cache that was not empty, ``emptied_alerted`` the flag to store.
    """

    unchanged: bool
    network: NetworkInfo
    fingerprint: str
    changes: Tuple[Change, ...] = ()
    anomalies: Tuple[Change, ...] = ()
    addresses: Tuple[Tuple[str, str], ...] = ()
    last_good: bool = False
    emptied_alerted: bool = False


def merged(previous: Optional[Previous], given: NetworkInfo
           ) -> Tuple[NetworkInfo, str, bool]:
    """``given`` with what its source does not carry taken from the
    history, its fingerprint, and whether the history already holds it."""
    network = merge_network_info(
        previous.network if previous is not None else None, given)
    digest = fingerprint(network)
    return network, digest, (previous is not None
                             and previous.fingerprint == digest)


def decide(previous: Optional[Previous], given: NetworkInfo,
           instance: Instance) -> Decision:
    """What the cache ``given`` of ``instance`` changes since ``previous``.

    What its source does not carry (``given.unknown``: a notification has
    no network id, type, active flag or floating IP) is taken from the
    history, never read as changed. The emptying of a live instance's
    cache is alerted once, until it has VIFs again. An address whose
    network is not known (a VIF only a notification told) is not compared
    across networks.
    """
    network, digest, unchanged = merged(previous, given)
    if unchanged:
        return Decision(True, network, digest)
    old = previous.network if previous is not None else None
    odd = anomalies(instance, old, network)
    emptied = any(a.kind == 'cache_emptied' for a in odd)
    alerted = previous is not None and previous.emptied_alerted
    if emptied and alerted:
        odd = [a for a in odd if a.kind != 'cache_emptied']
    return Decision(
        False, network, digest, tuple(diff(old, network)), tuple(odd),
        addresses=tuple(sorted({(vif.network_id, ip.address)
                                for vif in network.vifs if vif.network_id
                                for ip in vif.fixed_ips})),
        last_good=bool(len(network)),
        emptied_alerted=emptied or (alerted and not len(network)))


def duplicates(others: Iterable[str]) -> List[Change]:
    """The anomaly of each other instance holding one of the addresses."""
    return [Change('duplicate_fixed_ip', None,
                   'also held by instance %s' % other) for other in others]
