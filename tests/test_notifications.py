"""Nova's versioned notifications (its own samples, Nova 34) as HookEvents:
what each mapped type gives, parity with the hook adapter, garbage."""

import copy
import pathlib
from typing import Any, Dict, List

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import pytest

from novahooks_core import models, normalize
from novahooks_core.hooks.event import HookEvent
from novahooks_core.models import HookPoint, Phase
from novahooks_core.normalize import BadInput
from novahooks_core.notify import mapping
from novahooks_core.testing import factories, samples

MAPPED = {
    'instance-create-end': [('create_instance', 'post'),
                            ('build_instance', 'post')],
    'instance-update': [('instance_network_info', 'post')],
    'instance-interface_attach-end': [('instance_network_info', 'post')],
    'instance-interface_detach-end': [('instance_network_info', 'post')],
    'instance-shutdown-end': [('instance_network_info', 'post')],
    'instance-delete-end': [('delete_instance', 'pre'),
                            ('instance_network_info', 'post'),
                            ('delete_instance', 'post')],
    'instance-delete-end_compute_down': [('delete_instance', 'pre'),
                                         ('instance_network_info', 'post'),
                                         ('delete_instance', 'post')],
    'instance-create-error': [('build_instance', 'post')],
    'instance-rebuild-end': [('build_instance', 'post')],
    'instance-evacuate': [('build_instance', 'post')],
    'instance-resize_finish-end': [('build_instance', 'post')],
    'instance-resize_revert-end': [('build_instance', 'post')],
    'instance-unshelve-end': [('build_instance', 'post')],
    'instance-live_migration_post_dest-end': [('build_instance', 'post')],
    'instance-shelve_offload-end': [('instance_network_info', 'post')],
    'instance-soft_delete-end': [('instance_network_info', 'post')],
    'instance-restore-end': [('instance_network_info', 'post')],
}


@pytest.fixture(scope='module')
def samples_dir() -> pathlib.Path:
    return samples.fetch()


def load(directory: pathlib.Path, name: str) -> Dict[str, Any]:
    return samples.load(directory, name)


@pytest.mark.parametrize('name', sorted(MAPPED))
def test_every_mapped_sample_gives_its_events(samples_dir: pathlib.Path,
                                              name: str) -> None:
    message = load(samples_dir, name)
    events = mapping.events(message['event_type'], message['payload'])
    assert [(e.hook.value, e.phase.value) for e in events] == MAPPED[name]
    for event in events:
        # Everything a handler may read is there, normalized.
        fields = event.normalize_all()
        assert fields['nova_releases'] == list(mapping.RELEASES)
        assert event.request.request_id == (
            'req-5b6c791d-5709-4f36-8fbe-c3e02869e35d')
        instance = event.instances[0]
        sent = message['payload']['nova_object.data']
        assert instance.uuid == '178b0921-8f85-4257-88b6-2e743b5a975c'
        assert (instance.hostname, instance.host, instance.flavor
                and instance.flavor.memory_mb) == (
            'some-server', sent['host'],
            sent['flavor']['nova_object.data']['memory_mb'])
        if event.hook is not HookPoint.CREATE_INSTANCE:
            assert event.instance == instance
            assert event.instance_uuid == instance.uuid
        assert event.network_info == instance.network_info
        assert event.create_request is None
    build = [e for e in events if e.hook is HookPoint.BUILD_INSTANCE]
    assert [e.result for e in build] == [
        'failed' if name == 'instance-create-error' else 'active'
    ] * len(build)
    # What a notification does not carry is said, never read as "none".
    assert events[0].network_info is not None
    assert 'ip.floating_ips' in events[0].network_info.unknown


def test_network_info_from_ip_addresses(samples_dir: pathlib.Path) -> None:
    message = load(samples_dir, 'instance-interface_attach-end')
    (event,) = mapping.events(message['event_type'],
                                    message['payload'])
    network = event.network_info
    assert network is not None
    assert [(v.id, v.address, v.devname, v.network_label,
             [ip.address for ip in v.fixed_ips]) for v in network.vifs] == [
        ('ce531f90-199f-48c0-816c-13e38010b442', 'fa:16:3e:4c:2c:30',
         'tapce531f90-19', 'private', ['192.168.1.3']),
        ('88dae9fa-0dc6-49e3-8c29-3abc41e99ac9', '00:0c:29:0d:11:74',
         'tap88dae9fa-0d', 'private', ['192.168.1.30'])]
    assert [b.volume_id for b in event.block_devices] == [
        'a07f71dc-8151-4e7d-a0cc-cd24a3f11113']
    assert event.block_devices[0].source_type == 'volume'
    assert event.block_devices[0].delete_on_termination is False


def test_a_deleted_instance_reads_as_deleted(samples_dir: pathlib.Path
                                             ) -> None:
    message = load(samples_dir, 'instance-delete-end')
    pre, deallocation, post = mapping.events(message['event_type'],
                                             message['payload'])
    # As hooks see a delete: the deallocation between pre and post, its
    # network known to be empty (not "unknown").
    assert deallocation.network_info == models.NetworkInfo()
    assert post.instance is not None
    assert (post.instance.vm_state, post.instance.deleted) == ('deleted',
                                                               True)
    assert post.instance.terminated_at == '2012-10-29T13:42:11+00:00'
    assert len(post.network_info or ()) == 0


def _payload_for(directory: pathlib.Path, inst: models.Instance
                 ) -> Dict[str, Any]:
    """What Nova would notify about ``inst`` (an InstanceActionPayload)."""
    message = load(directory, 'instance-interface_attach-end')
    data = message['payload']['nova_object.data']
    ip_template = load(directory, 'common_payloads/IpPayload')
    addresses: List[Dict[str, Any]] = []
    assert inst.network_info is not None
    for vif in inst.network_info.vifs:
        for ip in vif.fixed_ips:
            item = copy.deepcopy(ip_template)
            item['nova_object.data'].update(
                port_uuid=vif.id, mac=vif.address, address=ip.address,
                version=ip.version, label=vif.network_label,
                device_name=vif.devname)
            addresses.append(item)
    flavor = inst.flavor
    assert flavor is not None
    data['flavor']['nova_object.data'].update(
        flavorid=flavor.flavorid, name=flavor.name,
        memory_mb=flavor.memory_mb, vcpus=flavor.vcpus,
        root_gb=flavor.root_gb, ephemeral_gb=flavor.ephemeral_gb,
        swap=flavor.swap, extra_specs=dict(flavor.extra_specs),
        is_public=flavor.is_public, disabled=flavor.disabled,
        rxtx_factor=flavor.rxtx_factor, vcpu_weight=flavor.vcpu_weight,
        description=flavor.description)
    data.update(
        uuid=inst.uuid, host_name=inst.hostname,
        display_name=inst.display_name, tenant_id=inst.project_id,
        user_id=inst.user_id, host=inst.host, node=inst.node,
        availability_zone=inst.availability_zone, state=inst.vm_state,
        task_state=inst.task_state, power_state={
            v: k for k, v in mapping.POWER_STATES.items()}[
            inst.power_state],
        image_uuid=inst.image_ref, key_name=inst.key_name,
        reservation_id=inst.reservation_id, launched_at=inst.launched_at,
        metadata=dict(inst.metadata), ip_addresses=addresses,
        tags=list(inst.tags))
    return message


def test_handlers_cannot_tell_the_adapters_apart(
        samples_dir: pathlib.Path) -> None:
    """The same instance through a hook call and through a notification:
    every field a notification carries is equal (the rest are what a
    notification genuinely lacks)."""
    raw = factories.instance(state='active', host='compute-1')
    hooked = HookEvent(
        HookPoint.INSTANCE_NETWORK_INFO, Phase.POST,
        *factories.instance_network_info_args(raw, factories.network_info(
            factories.vif('10.0.0.5', ipv6='fd00:10::5', port_id='p1'),
            factories.vif('10.1.0.6', port_id='p2', network_label='b'))))
    inst = hooked.instance
    assert inst is not None and inst.network_info is not None
    message = _payload_for(samples_dir, inst)
    (notified,) = mapping.events(message['event_type'],
                                       message['payload'])
    other = notified.instance
    assert other is not None and other.network_info is not None
    carried = ('uuid', 'hostname', 'display_name', 'project_id', 'user_id',
               'host', 'node', 'availability_zone', 'vm_state', 'task_state',
               'power_state', 'image_ref', 'key_name', 'reservation_id',
               'launched_at', 'deleted', 'metadata', 'tags')
    assert ({f: getattr(other, f) for f in carried}
            == {f: getattr(inst, f) for f in carried})
    assert other.flavor == models.Flavor(
        **dict(vars(inst.flavor), id=None))  # the payload has no db id

    def seen(network: models.NetworkInfo) -> Any:
        return [(v.id, v.address, v.devname, v.network_label,
                 [(ip.address, ip.version, ip.type) for ip in v.fixed_ips])
                for v in network.vifs]
    assert seen(other.network_info) == seen(inst.network_info)
    assert notified.hook is hooked.hook and notified.phase is hooked.phase


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_garbled_payload_is_bad_input_or_events(
        samples_dir: pathlib.Path, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(MAPPED)))
    message = load(samples_dir, name)
    fields = message['payload']['nova_object.data']
    key = data.draw(st.sampled_from(sorted(fields)))
    fields[key] = data.draw(JSON)
    try:
        events = mapping.events(message['event_type'],
                                      message['payload'])
    except BadInput:
        return
    for event in events:
        event.normalize_all()


@pytest.mark.parametrize('payload', [None, 'text', 42, [], {'a': 1},
                                     {'nova_object.data': 'x'}])
def test_a_payload_that_is_not_an_instance_is_bad_input(payload: Any
                                                        ) -> None:
    with pytest.raises(BadInput):
        mapping.events('instance.update', payload)


def test_unmapped_types_give_nothing() -> None:
    assert mapping.events('instance.pause.end', None) == []


def test_samples_resolve_references(samples_dir: pathlib.Path) -> None:
    message = load(samples_dir, 'instance-create-end')
    text = repr(message)
    assert '$ref' not in text
    data = message['payload']['nova_object.data']
    assert message['payload']['nova_object.name'] == 'InstanceCreatePayload'
    # InstanceCreatePayload overrides block_devices of InstancePayload.
    assert data['block_devices'] == []
    assert data['flavor']['nova_object.name'] == 'FlavorPayload'
    assert normalize.flavor(data['flavor']['nova_object.data']) is not None
