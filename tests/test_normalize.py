"""Normalizers over every release shape Nova used for hooks."""

import json

import pytest

from novahooks_core import models, normalize
from novahooks_core.testing import RELEASES, factories, fakes


@pytest.mark.parametrize('release', RELEASES)
def test_flavor_object_and_liberty_dict_normalize_alike(release: int) -> None:
    value = factories.flavor(release)
    assert isinstance(value, dict) == (release <= 14)
    result = normalize.flavor(value)
    assert result == models.Flavor(
        id=2, name='m1.small', flavorid='2', memory_mb=2048, vcpus=1,
        root_gb=20, ephemeral_gb=0, swap=0, rxtx_factor=1.0, vcpu_weight=0,
        disabled=False, is_public=True,
        extra_specs={'hw:cpu_policy': 'shared'}, description=None)


def test_flavor_bad_field_types_become_none() -> None:
    result = normalize.flavor({'memory_mb': 'lots', 'vcpus': None,
                               'disabled': 'maybe', 'extra_specs': [1, 2],
                               'rxtx_factor': 'x', 'flavorid': 7})
    assert result is not None
    assert (result.memory_mb, result.vcpus, result.disabled,
            result.rxtx_factor) == (None, None, None, None)
    assert result.extra_specs == {}
    assert result.flavorid == '7'


@pytest.mark.parametrize('value', ['m1.small', 5, b'x', [1], (2,)])
def test_flavor_of_the_wrong_kind_is_bad_input(value: object) -> None:
    with pytest.raises(normalize.BadInput, match='flavor is a'):
        normalize.flavor(value)


def test_instance_unset_fields_are_none_and_never_lazy_loaded() -> None:
    inst = factories.instance(unset=('host', 'node', 'info_cache', 'flavor',
                                     'tags', 'metadata', 'launched_at'))
    with pytest.raises(fakes.LazyLoadAttempted):
        getattr(inst, 'host')  # noqa: B009 - the stand-in really refuses, like a lazy-load would
    result = normalize.instance(inst)
    assert result is not None
    assert result.uuid == inst.uuid
    assert (result.host, result.node, result.flavor, result.network_info,
            result.launched_at) == (None, None, None, None, None)
    assert result.tags == () and result.metadata == {}


def test_instance_reads_tags_flavor_and_info_cache() -> None:
    net = factories.network_info(factories.vif('10.0.0.7', ipv6='fd00::7'))
    inst = factories.instance(state='active', host='cmp1', network=net)
    result = normalize.instance(inst)
    assert result is not None
    assert result.tags == ('prod',)
    assert result.vm_state == 'active' and result.host == 'cmp1'
    assert result.flavor is not None and result.flavor.name == 'm1.small'
    assert result.network_info is not None
    assert [ip.address for ip in result.network_info.fixed_ips] == [
        '10.0.0.7', 'fd00::7']


def test_instance_model_has_no_secret_fields() -> None:
    result = normalize.instance(factories.instance())
    text = repr(result) + json.dumps(models.to_primitive(result))
    for secret in factories.SECRETS.values():
        assert secret not in text
    assert 'key_data' not in text and 'user_data' not in text


def _stored_json() -> str:
    """Network info as Nova stores it in instance_info_caches."""
    return json.dumps([
        factories.vif('10.0.0.5', ipv6='fd00:10::5',
                      floating=['172.24.4.10'], network_label='private',
                      port_id='port-1'),
        factories.vif('192.168.1.9', network_label='storage',
                      port_id='port-2', vif_type='binding_failed',
                      active=False),
    ])


@pytest.mark.parametrize('shape', ['json', 'list', 'model', 'bytes'])
def test_network_info_shapes(shape: str) -> None:
    text = _stored_json()
    value = {'json': text, 'bytes': text.encode(),
             'list': json.loads(text),
             'model': fakes.NetworkInfo(json.loads(text))}[shape]
    result = normalize.network_info(value)
    assert result is not None and len(result) == 2
    first, second = result.vifs
    assert first.id == 'port-1' and first.network_label == 'private'
    assert first.mtu == 1450 and first.tenant_id == 'project-a'
    assert [s.cidr for s in first.subnets] == ['10.0.0.0/24', 'fd00:10::/64']
    assert first.subnets[0].gateway == '10.0.0.1'
    assert first.subnets[0].dns == ('10.0.0.2',)
    assert first.fixed_ips[0] == models.IpAddress(
        '10.0.0.5', 4, 'fixed', ('172.24.4.10',))
    assert first.fixed_ips[1].version == 6
    assert result.floating_ips == ('172.24.4.10',)
    assert second.type == 'binding_failed' and second.active is False


def test_network_info_none_pending_and_empty() -> None:
    assert normalize.network_info(None) is None
    pending = fakes.PendingNetworkInfo([factories.vif()])
    assert normalize.network_info(pending) is None  # would block: unknown
    pending.wait()
    result = normalize.network_info(pending)
    assert result is not None and len(result) == 1
    empty = normalize.network_info(fakes.NetworkInfo())
    assert empty == models.NetworkInfo(vifs=())
    assert normalize.network_info('null') is None


@pytest.mark.parametrize('value', ['{not json', 5, {'id': 'x'}])
def test_network_info_garbage_is_bad_input(value: object) -> None:
    with pytest.raises(normalize.BadInput):
        normalize.network_info(value)


def test_network_info_skips_garbage_entries_inside_the_list() -> None:
    result = normalize.network_info([None, 'x', {'id': 'p', 'network': 5},
                                     {'network': {'subnets': [{'ips': 7}]}}])
    assert result is not None
    assert [v.id for v in result.vifs] == ['p', None]
    assert result.fixed_ips == ()


def test_block_device_object_drops_connection_info() -> None:
    bdm = factories.volume_bdm(volume_id='vol-1', delete_on_termination=True)
    result = normalize.block_device(bdm)
    assert result.volume_id == 'vol-1' and result.source_type == 'volume'
    assert result.delete_on_termination is True
    assert result.volume_size == 10 and result.uuid == bdm.uuid
    assert 'canary' not in repr(result)


def test_block_device_api_form_uuid_names_the_source() -> None:
    result = normalize.block_device({
        'boot_index': '0', 'uuid': 'vol-9', 'source_type': 'volume',
        'destination_type': 'volume', 'volume_size': '20',
        'delete_on_termination': 'true'})
    assert result.volume_id == 'vol-9' and result.uuid is None
    assert result.boot_index == 0 and result.volume_size == 20
    assert result.delete_on_termination is True


@pytest.mark.parametrize('legacy,expected', [
    ({'device_name': 'vda', 'volume_id': 'v1', 'delete_on_termination': '1'},
     ('volume', 'volume', 'v1', None, None)),
    ({'device_name': 'vdb', 'snapshot_id': 's1', 'volume_size': 5},
     ('snapshot', 'volume', None, 's1', None)),
    ({'device_name': 'vdc', 'virtual_name': 'ephemeral0'},
     ('blank', 'local', None, None, None)),
    ({'device_name': 'vdd', 'virtual_name': 'swap'},
     ('blank', 'local', None, None, 'swap')),
    ({'device_name': 'vde', 'no_device': True},
     (None, None, None, None, None)),
])
def test_legacy_block_devices(legacy: dict, expected: tuple) -> None:
    result = normalize.block_device(legacy)
    assert (result.source_type, result.destination_type, result.volume_id,
            result.snapshot_id, result.guest_format) == expected
    assert result.device_name == legacy['device_name']


def test_block_devices_of_list_object_and_garbage() -> None:
    bdms = factories.bdm_list(factories.image_bdm(), factories.volume_bdm())
    assert [b.source_type for b in normalize.block_devices(bdms)] == [
        'image', 'volume']
    assert normalize.block_devices(None) == ()
    with pytest.raises(normalize.BadInput):
        normalize.block_devices('vda')
    with pytest.raises(normalize.BadInput):
        normalize.block_devices([5])


@pytest.mark.parametrize('release', RELEASES)
def test_create_request_counts_secrets_but_never_carries_them(
        release: int) -> None:
    from novahooks_core.hooks.binding import bind
    from novahooks_core.models import HookPoint
    args, kwargs = factories.create_instance_args(release)
    request = normalize.create_request(
        bind(HookPoint.CREATE_INSTANCE, args, kwargs).values)
    assert request.has_admin_password and request.has_key_data
    assert request.user_data_bytes == len(factories.SECRETS['user_data'])
    assert request.injected_files_count == 1
    assert request.security_groups == ('default',)
    assert request.requested_networks[0].network_id == 'net-private'
    assert request.block_devices[0].image_id == args[3]
    text = json.dumps(models.to_primitive(request)) + repr(request)
    for secret in factories.SECRETS.values():
        assert secret not in text


def test_request_info_never_reads_the_token() -> None:
    ctx = factories.context('p1', 'u1')
    info = normalize.request_info(ctx)
    assert (info.project_id, info.user_id) == ('p1', 'u1')
    assert info.request_id == ctx.request_id
    assert normalize.request_info('garbage') == models.RequestInfo()


@pytest.mark.parametrize('value,expected', [
    ('true', True), ('Off', False), (1, True), (0, False), ('maybe', None),
    (None, None), ([], None)])
def test_as_bool(value: object, expected: object) -> None:
    assert normalize.as_bool(value) is expected


def test_read_field_guards_every_failure() -> None:
    class Exploding:
        def obj_attr_is_set(self, name: str) -> bool:
            raise RuntimeError('boom')

    class Raising:
        @property
        def uuid(self) -> str:
            raise RuntimeError('lazy-load failed')

    assert normalize.read_field(Exploding(), 'uuid', 'd') == 'd'
    assert normalize.read_field(Raising(), 'uuid') is None
    assert normalize.read_field(None, 'uuid') is None
    assert normalize.read_field({'uuid': 'u'}, 'uuid') == 'u'


def test_nova_network_info_reads_back_as_the_same_model() -> None:
    """Our model written in Nova's shape (``netinfo last-good``) and read
    again: nothing lost, floating IPs, IPv6, MTU and tenant included."""
    found = normalize.network_info(factories.network_info(
        factories.vif('10.0.0.5', ipv6='fd00::5', floating=['172.24.4.9'],
                      port_id='p1', network_id='n1'),
        factories.vif('10.0.0.6', port_id='p2', vif_type='binding_failed',
                      active=False)))
    assert found is not None and len(found) == 2
    nova = normalize.nova_network_info(found)
    assert [v['network']['id'] for v in nova] == ['n1', found.vifs[1]
                                                  .network_id]
    assert normalize.network_info(nova) == found


def test_stored_network_info_reads_back_equal_and_is_decoded_once() -> None:
    """What a plugin stores (``network_info_json``) decodes to a model equal
    to the one stored, field for field (so the remembered model may stand
    for the text); a text is decoded once, and ``null`` reads as None."""
    stored = normalize.network_info(factories.network_info(
        factories.vif('10.0.0.5', ipv6='fd00::5', floating=['172.24.4.9'],
                      port_id='p1', network_id='n1'),
        factories.vif('10.0.0.6', port_id='p2', vif_type='binding_failed',
                      active=False)))
    assert stored is not None
    text = models.network_info_json(stored)
    assert json.loads(text) == models.to_primitive(stored)
    assert models.network_info_from_primitive(json.loads(text)) == stored
    assert models.network_info_from_json(text) is stored
    # A text no model was stored as (another process wrote it).
    other = text.replace('10.0.0.6', '10.0.0.7')
    first = models.network_info_from_json(other)
    assert first is not None and first is models.network_info_from_json(
        other)
    assert [ip.address for ip in first.fixed_ips] == [
        '10.0.0.5', 'fd00::5', '10.0.0.7']
    assert models.network_info_from_json('null') is None
