"""The netinfo plugin's decision, apart from I/O (``changes.decide``)."""

import dataclasses
from typing import Any

from novahooks_core import normalize
from novahooks_core.models import Instance, NetworkInfo
from novahooks_core.testing import factories
from novahooks_netinfo import changes

LIVE = Instance(uuid='u1', vm_state='active')


def net(*vifs: dict) -> Any:
    model = normalize.network_info(factories.network_info(*vifs))
    assert model is not None
    return model


def previous(network: NetworkInfo, alerted: bool = False) -> changes.Previous:
    return changes.Previous(network, changes.fingerprint(network), alerted)


A = factories.vif('10.0.0.5', port_id='p1', network_id='n1')
B = factories.vif('10.0.0.6', port_id='p2', network_id='n2')


def test_a_first_cache_is_recorded_with_its_addresses() -> None:
    decision = changes.decide(None, net(A, B), LIVE)
    assert not decision.unchanged
    assert [c.kind for c in decision.changes] == ['vif_added', 'vif_added']
    assert decision.addresses == (('n1', '10.0.0.5'), ('n2', '10.0.0.6'))
    assert decision.last_good and not decision.emptied_alerted
    assert decision.fingerprint == changes.fingerprint(net(A, B))


def test_an_equal_cache_is_unchanged_in_any_vif_order() -> None:
    decision = changes.decide(previous(net(A, B)), net(B, A), LIVE)
    assert decision.unchanged and not decision.changes


def test_what_the_source_does_not_carry_is_taken_from_the_history() -> None:
    fip = factories.vif('10.0.0.5', port_id='p1', network_id='n1',
                        floating=['172.24.4.9'])
    # A notification: no floating IPs and no network id, and it says so.
    told = dataclasses.replace(net(factories.vif('10.0.0.5', port_id='p1')),
                               unknown=frozenset({'ip.floating_ips',
                                                  'vif.network_id'}))
    decision = changes.decide(previous(net(fip)), told, LIVE)
    assert decision.unchanged
    assert decision.network.floating_ips == ('172.24.4.9',)


def test_an_emptied_live_cache_is_alerted_once_until_it_has_vifs() -> None:
    first = changes.decide(previous(net(A)), NetworkInfo(), LIVE)
    assert [a.kind for a in first.anomalies] == ['cache_emptied']
    assert first.emptied_alerted and not first.last_good
    # Emptied again (after another change): not alerted twice.
    again = changes.decide(previous(net(B), alerted=True), NetworkInfo(),
                           LIVE)
    assert again.anomalies == () and again.emptied_alerted
    # VIFs back: the flag clears, so the next emptying is alerted.
    back = changes.decide(previous(NetworkInfo(), alerted=True), net(A),
                          LIVE)
    assert not back.emptied_alerted and back.last_good


def test_an_instance_being_deleted_empties_its_cache_quietly() -> None:
    deleting = Instance(uuid='u1', vm_state='active', task_state='deleting')
    decision = changes.decide(previous(net(A)), NetworkInfo(), deleting)
    assert decision.anomalies == ()
    assert [c.kind for c in decision.changes] == ['vif_removed']


def test_an_address_without_a_known_network_is_not_compared() -> None:
    told = net(factories.vif('10.0.0.7'))
    assert changes.decide(None, told, LIVE).addresses
    unknown = NetworkInfo(vifs=tuple(dataclasses.replace(v, network_id=None)
                                     for v in told.vifs))
    assert changes.decide(None, unknown, LIVE).addresses == ()


def test_duplicates_are_anomalies_naming_the_other_instance() -> None:
    assert [(a.kind, a.detail) for a in changes.duplicates(['u2'])] == [
        ('duplicate_fixed_ip', 'also held by instance u2')]
