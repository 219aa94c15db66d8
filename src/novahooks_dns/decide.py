"""The DNS plugin's decisions, apart from I/O: pure functions of what the
state holds and what the source said. :mod:`novahooks_dns.service` reads
the state, calls these, and writes what they return.
"""

import dataclasses
from typing import FrozenSet, Optional

from novahooks_core import models
from novahooks_core.models import CreateRequest, Instance, NetworkInfo
from novahooks_dns.records import (
    Record,
    Settings,
    could_be_floating,
    desired_records,
    forward_name,
)


@dataclasses.dataclass(frozen=True)
class SyncPlan:
    """What one sync changes.

    ``kept``: the network info of a live instance came empty while it has
    records; they are all kept (a cache being rebuilt, not addresses lost)
    and nothing else is done. ``network_json``: the merged network info to
    store, ``None`` when the stored text is already that.
    """

    adds: FrozenSet[Record] = frozenset()
    stale: FrozenSet[Record] = frozenset()
    network_json: Optional[str] = None
    kept: bool = False


def is_deleting(instance: Instance) -> bool:
    """Whether Nova is deleting the instance: its network info going empty
    then means its addresses are gone, not a cache being rebuilt."""
    return instance.task_state == 'deleting' or instance.vm_state == 'deleted'


def plan_sync(instance: Instance, given: NetworkInfo,
              known_json: Optional[str], have: FrozenSet[Record],
              settings: Settings, deleting: bool = False) -> SyncPlan:
    """The changes that make ``instance``'s records match ``given``.

    ``known_json`` is the network info stored by the last sync, whose
    fields ``given`` does not carry (``given.unknown``) are kept; ``have``
    the records the instance holds. A record the floating template could
    have made is not taken for removed while the source carries no
    floating IPs.
    """
    known = models.network_info_from_json(known_json) if known_json \
        else None
    network = models.merge_network_info(known, given)
    desired = desired_records(instance, network, settings)
    if not desired and have and not deleting:
        return SyncPlan(kept=True)
    stale = have - desired
    if stale and 'ip.floating_ips' in network.unknown:
        stale = frozenset(r for r in stale
                          if not could_be_floating(r, instance, settings))
    network_json = models.network_info_json(network)
    return SyncPlan(adds=desired - have, stale=stale,
                    network_json=(None if network_json == known_json
                                  else network_json))


def records_to_remove(instance: Instance, have: FrozenSet[Record],
                      tracked: bool, fallback: Optional[NetworkInfo],
                      settings: Settings) -> FrozenSet[Record]:
    """Every record of a deleted instance: those it holds; for an
    instance with no state kept here (lost, or kept by another host's
    database), those its last info cache implies."""
    if not tracked and fallback is not None:
        return desired_records(instance, fallback, settings)
    return have


def requested_name(request: CreateRequest, project_id: Optional[str],
                   settings: Settings) -> Optional[str]:
    """The forward name a create request will give its instance, or
    ``None`` when it cannot be known before the instance exists (no
    display name, or a template of its uuid or addresses)."""
    if not request.display_name or '{uuid' in settings.forward_template:
        return None
    return forward_name(Instance(hostname=request.display_name,
                                 display_name=request.display_name,
                                 project_id=project_id), settings)
