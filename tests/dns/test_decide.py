"""The DNS plugin's decisions, apart from I/O (``novahooks_dns.decide``)."""

import dataclasses
import json

from novahooks_core import models, normalize
from novahooks_core.models import CreateRequest, Instance, NetworkInfo
from novahooks_core.testing import factories
from novahooks_dns import decide
from novahooks_dns.records import Settings, desired_records

ZONE = 'cloud.internal.'
FIP_REV = '4.24.172.in-addr.arpa.'
SETTINGS = Settings(ZONE)


def _instance(*vifs: dict, **fields: object) -> Instance:
    inst = normalize.instance(factories.instance(
        state='active', host='cmp', network=factories.network_info(*vifs),
        hostname='web', **fields))
    assert inst is not None and inst.network_info is not None
    return inst


def _json(network: NetworkInfo) -> str:
    return json.dumps(models.to_primitive(network), sort_keys=True)


def test_a_first_sync_adds_every_record_and_stores_the_network() -> None:
    inst = _instance(factories.vif('10.0.0.5'))
    assert inst.network_info is not None
    plan = decide.plan_sync(inst, inst.network_info, None, frozenset(),
                            SETTINGS)
    assert plan.adds == desired_records(inst, inst.network_info, SETTINGS)
    assert plan.adds and not plan.stale and not plan.kept
    assert plan.network_json == _json(inst.network_info)


def test_an_unchanged_sync_changes_nothing_and_stores_nothing() -> None:
    inst = _instance(factories.vif('10.0.0.5'))
    assert inst.network_info is not None
    have = desired_records(inst, inst.network_info, SETTINGS)
    plan = decide.plan_sync(inst, inst.network_info,
                            _json(inst.network_info), have, SETTINGS)
    assert plan == decide.SyncPlan()


def test_a_moved_address_adds_the_new_and_releases_the_old() -> None:
    old = _instance(factories.vif('10.0.0.5'))
    new = _instance(factories.vif('10.0.0.6'), uuid=old.uuid)
    assert old.network_info is not None and new.network_info is not None
    have = desired_records(old, old.network_info, SETTINGS)
    plan = decide.plan_sync(new, new.network_info, _json(old.network_info),
                            have, SETTINGS)
    assert {r.value for r in plan.adds} == {'10.0.0.6'}
    assert plan.stale == have
    assert plan.network_json == _json(new.network_info)


def test_empty_network_info_of_a_live_instance_keeps_its_records() -> None:
    inst = _instance(factories.vif('10.0.0.5'))
    assert inst.network_info is not None
    have = desired_records(inst, inst.network_info, SETTINGS)
    plan = decide.plan_sync(inst, NetworkInfo(), _json(inst.network_info),
                            have, SETTINGS)
    assert plan == decide.SyncPlan(kept=True)
    # Deleting: the addresses are gone.
    plan = decide.plan_sync(inst, NetworkInfo(), _json(inst.network_info),
                            have, SETTINGS, deleting=True)
    assert plan.stale == have and not plan.kept and not plan.adds


def test_records_a_floating_template_made_outlive_a_source_without_them(
        ) -> None:
    settings = Settings(ZONE, (FIP_REV,), floating_template='{hostname}-pub')
    inst = _instance(factories.vif('10.0.0.5', floating=['172.24.4.10']))
    assert inst.network_info is not None
    have = desired_records(inst, inst.network_info, settings)
    assert {r.value for r in have} >= {'172.24.4.10'}
    # A notification: no floating IPs, and it says it does not carry them.
    bare = _instance(factories.vif('10.0.0.5'), uuid=inst.uuid)
    assert bare.network_info is not None
    given = dataclasses.replace(bare.network_info,
                                unknown=frozenset({'ip.floating_ips'}))
    plan = decide.plan_sync(bare, given, None, have, settings)
    assert plan.stale == frozenset() and plan.adds == frozenset()
    # A hook call carries floating IPs: none means none.
    plan = decide.plan_sync(bare, bare.network_info, None, have, settings)
    assert {r.value for r in plan.stale} == {'172.24.4.10', 'web-pub.' + ZONE}


def test_a_removal_uses_the_info_cache_only_without_state() -> None:
    inst = _instance(factories.vif('10.0.0.5'))
    implied = desired_records(inst, inst.network_info, SETTINGS)
    held = frozenset(list(implied)[:1])
    assert decide.records_to_remove(inst, held, True, inst.network_info,
                                    SETTINGS) == held
    assert decide.records_to_remove(inst, frozenset(), False,
                                    inst.network_info, SETTINGS) == implied
    assert decide.records_to_remove(inst, frozenset(), False, None,
                                    SETTINGS) == frozenset()


def test_deleting_means_nova_is_deleting_the_instance() -> None:
    assert decide.is_deleting(Instance(task_state='deleting'))
    assert decide.is_deleting(Instance(vm_state='deleted'))
    assert not decide.is_deleting(Instance(vm_state='active'))
    assert not decide.is_deleting(Instance(task_state='spawning'))


def test_the_name_a_create_request_will_get() -> None:
    request = CreateRequest(display_name='Web 1')
    assert decide.requested_name(request, 'p1', SETTINGS) == 'web-1.' + ZONE
    by_project = Settings(ZONE, forward_template='{hostname}.{project_id}')
    assert decide.requested_name(request, 'p1', by_project) == (
        'web-1.p1.' + ZONE)
    # Not knowable before the instance exists.
    assert decide.requested_name(CreateRequest(), 'p1', SETTINGS) is None
    for template in ('{uuid}', '{dashed_ip}', '{octets[3]}-{hostname}'):
        assert decide.requested_name(request, 'p1', Settings(
            ZONE, forward_template=template)) is None
