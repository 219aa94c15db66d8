"""Our normalizers on objects built with a real Nova release's classes."""

import types
from typing import Any, List

import nova_shapes as shapes
import pytest

from novahooks_core import models, normalize


def test_the_guard_sees_a_lazy_load(nova: types.SimpleNamespace,
                                    load_guard: Any) -> None:
    """The load guard is real: reading an unset field reaches it."""
    inst = shapes.instance(nova, shapes.context(nova), loaded=False)
    with pytest.raises(load_guard.error):
        inst.host  # noqa: B018 - the read is the point
    assert load_guard.loads == [('Instance', 'host')]
    load_guard.loads.clear()


def test_an_unset_field_of_an_orphan_instance_raises(
        nova: types.SimpleNamespace) -> None:
    """Without the guard, Nova refuses to lazy-load without a context."""
    from nova import exception
    inst = shapes.instance(nova, loaded=False)
    with pytest.raises(exception.OrphanedObjectError):
        inst.flavor  # noqa: B018


def test_flavor(nova: types.SimpleNamespace, load_guard: Any) -> None:
    flavor = shapes.flavor(nova)
    assert not flavor.obj_attr_is_set('projects')
    assert normalize.flavor(flavor) == shapes.EXPECTED_FLAVOR
    assert not flavor.obj_attr_is_set('projects')


def test_flavor_without_extra_specs_loaded(nova: types.SimpleNamespace,
                                           load_guard: Any) -> None:
    flavor = nova.objects.Flavor(id=1, name='m1.tiny', flavorid='1',
                                 memory_mb=512, vcpus=1, root_gb=1)
    assert normalize.flavor(flavor) == models.Flavor(
        id=1, name='m1.tiny', flavorid='1', memory_mb=512, vcpus=1,
        root_gb=1)
    assert load_guard.loads == []


def test_instance_with_lazy_fields_unset(nova: types.SimpleNamespace,
                                         load_guard: Any) -> None:
    ctx = shapes.context(nova)
    inst = shapes.instance(nova, ctx, loaded=False)
    unset = ['id', 'host', 'node', 'flavor', 'info_cache', 'tags',
             'launched_on', 'security_groups', 'fault']
    assert [n for n in unset if inst.obj_attr_is_set(n)] == []

    result = normalize.instance(inst)

    assert result == shapes.replace(
        shapes.EXPECTED_INSTANCE, id=None, host=None, node=None,
        flavor=None, network_info=None, tags=())
    assert load_guard.loads == []
    assert [n for n in unset if inst.obj_attr_is_set(n)] == []
    shapes.assert_no_secrets(result)


def test_fields_read_where_nova_keeps_them(nova: types.SimpleNamespace,
                                           load_guard: Any) -> None:
    """read_field(s) read a set field from where oslo.versionedobjects
    keeps it, report a declared field not loaded as unset (never loading
    it) and leave an extra field to the object, as Nova's getters do."""
    inst = shapes.instance(nova, shapes.context(nova), loaded=False)
    names = ['uuid', 'hostname', 'vm_state', 'host', 'flavor',
             'info_cache']
    expected = [inst.uuid, inst.hostname, inst.vm_state, None, None, None]
    assert normalize.read_fields(inst, names) == expected
    assert [normalize.read_field(inst, n, 'unset') for n in names] == [
        v if v is not None else 'unset' for v in expected]
    assert load_guard.loads == []
    assert 'name' in inst.obj_extra_fields
    assert normalize.read_field(inst, 'name', 'unset') == 'unset'
    assert load_guard.loads == []


def test_loaded_instance(nova: types.SimpleNamespace,
                         load_guard: Any) -> None:
    inst = shapes.instance(nova, shapes.context(nova),
                           vm_state='active', task_state=None,
                           launched_at=shapes.LAUNCHED)
    assert inst.key_data == shapes.CANARIES['key_data']

    result = normalize.instance(inst)

    assert result == shapes.replace(
        shapes.EXPECTED_INSTANCE, vm_state='active', task_state=None,
        launched_at='2020-05-01T12:00:00+00:00')
    shapes.assert_no_secrets(result)


def test_deleted_instance(nova: types.SimpleNamespace,
                          load_guard: Any) -> None:
    inst = shapes.instance(
        nova, shapes.context(nova), vm_state='deleted', task_state=None,
        deleted=True, launched_at=shapes.LAUNCHED,
        terminated_at=shapes.TERMINATED, power_state=0)
    result = normalize.instance(inst)
    assert result is not None
    assert (result.vm_state, result.deleted, result.terminated_at) == (
        'deleted', True, '2020-05-02T08:30:00+00:00')


def test_network_info_hydrated_from_stored_text(
        nova: types.SimpleNamespace) -> None:
    nw_info = shapes.network_info(nova)
    assert type(nw_info) is nova.network_model.NetworkInfo
    assert [type(v).__name__ for v in nw_info] == ['VIF'] * 3

    result = normalize.network_info(nw_info)

    assert result is not None and result == shapes.EXPECTED_NETWORK
    # The same from the stored text itself and from Nova's own json().
    assert normalize.network_info(shapes.STORED_NETWORK_INFO) == result
    assert normalize.network_info(nw_info.json()) == result
    # Our address lists agree with Nova's own accessors.
    assert [ip.address for ip in result.fixed_ips] == [
        ip['address'] for ip in nw_info.fixed_ips()]
    assert list(result.floating_ips) == [
        ip['address'] for ip in nw_info.floating_ips()]
    assert [ip.version for ip in result.fixed_ips] == [
        ip['version'] for ip in nw_info.fixed_ips()]


def test_network_info_key_of_nova_models(nova: types.SimpleNamespace
                                         ) -> None:
    """Nova's model has every key the cheap key reads at once; equal caches
    (hydrated again, as the periodic heal builds them) have equal keys."""
    model = nova.network_model.NetworkInfo
    nw_info = model.hydrate(shapes.STORED_NETWORK_INFO)
    key = normalize.network_info_key(nw_info)
    assert key is not None
    assert key == normalize.network_info_key(model.hydrate(nw_info.json()))
    nw_info[0]['network']['subnets'][0]['ips'][0]['floating_ips'] = []
    assert normalize.network_info_key(nw_info) != key
    # Built by Nova's constructors (not hydrated): every key set too.
    vif = nova.network_model.VIF(id='port-1', address='fa:16:3e:00:00:01',
                                 network=nova.network_model.Network(
                                     id='net-1', subnets=[]))
    assert normalize.network_info_key(model([vif])) is not None


def test_info_cache_coerces_stored_text(nova: types.SimpleNamespace,
                                        load_guard: Any) -> None:
    """Nova's NetworkModel field turns stored text into a NetworkInfo."""
    cache = shapes.info_cache(nova, shapes.STORED_NETWORK_INFO)
    assert type(cache.network_info) is nova.network_model.NetworkInfo
    inst = shapes.instance(nova, shapes.context(nova), info_cache=cache)
    assert normalize.info_cache_network_info(inst) == shapes.EXPECTED_NETWORK


def test_info_cache_without_network_info_loaded(
        nova: types.SimpleNamespace, load_guard: Any) -> None:
    cache = nova.objects.InstanceInfoCache(instance_uuid=shapes.INSTANCE_UUID)
    inst = shapes.instance(nova, shapes.context(nova), info_cache=cache)
    assert normalize.info_cache_network_info(inst) is None
    result = normalize.instance(inst)
    assert result is not None and result.network_info is None


def test_empty_network_info(nova: types.SimpleNamespace) -> None:
    empty = nova.network_model.NetworkInfo()
    assert normalize.network_info(empty) == models.NetworkInfo(vifs=())
    assert normalize.network_info(
        nova.network_model.NetworkInfo.hydrate('[]')) == models.NetworkInfo()


def test_network_info_async_wrapper(nova: types.SimpleNamespace) -> None:
    """A pending allocation reads as unknown and is not waited for."""
    calls: List[int] = []

    def allocate() -> Any:
        calls.append(1)
        return shapes.network_info(nova)

    wrapper = nova.network_model.NetworkInfoAsyncWrapper(allocate)
    assert normalize.is_pending_async(wrapper)
    assert normalize.network_info(wrapper) is None
    assert wrapper._gt is not None and calls == []

    wrapper.wait()

    assert calls == [1] and not normalize.is_pending_async(wrapper)
    assert normalize.network_info(wrapper) == shapes.EXPECTED_NETWORK


def test_block_device_mapping_list(nova: types.SimpleNamespace,
                                   load_guard: Any) -> None:
    mappings = shapes.bdms(nova, shapes.context(nova))
    secret = shapes.CANARIES['rbd_secret']
    assert secret in mappings[0].connection_info
    assert not mappings[1].obj_attr_is_set('uuid')

    result = normalize.block_devices(mappings)

    assert result == shapes.EXPECTED_BDMS
    assert not mappings[1].obj_attr_is_set('uuid')
    assert not mappings[0].obj_attr_is_set('instance')
    shapes.assert_no_secrets(result, *result)


def test_block_device_dicts_of_the_api(nova: types.SimpleNamespace) -> None:
    """``API.create`` gets ``BlockDeviceDict.from_api`` results."""
    from_api = nova.block_device.BlockDeviceDict.from_api
    given = [
        from_api({'boot_index': 0, 'source_type': 'image',
                  'destination_type': 'local', 'uuid': shapes.IMAGE,
                  'delete_on_termination': True}, True),
        from_api({'boot_index': 1, 'source_type': 'volume',
                  'destination_type': 'volume', 'uuid': shapes.VOLUME_DATA,
                  'device_name': 'vdb', 'tag': 'data',
                  'delete_on_termination': 'false'}, True),
        from_api({'boot_index': -1, 'source_type': 'blank',
                  'destination_type': 'volume', 'volume_size': 5,
                  'volume_type': 'ssd'}, True),
    ]
    assert all(isinstance(d, nova.block_device.BlockDeviceDict)
               for d in given)
    assert normalize.block_devices(given) == (
        models.BlockDevice(source_type='image', destination_type='local',
                           boot_index=0, delete_on_termination=True,
                           image_id=shapes.IMAGE),
        models.BlockDevice(source_type='volume', destination_type='volume',
                           boot_index=1, device_name='/dev/vdb',
                           delete_on_termination=False,
                           volume_id=shapes.VOLUME_DATA, tag='data'),
        models.BlockDevice(source_type='blank', destination_type='volume',
                           boot_index=-1, delete_on_termination=False,
                           volume_size=5, volume_type='ssd'),
    )


def test_network_request_list(nova: types.SimpleNamespace,
                              load_guard: Any) -> None:
    requests = nova.objects.NetworkRequestList(objects=[
        nova.objects.NetworkRequest(network_id=shapes.NET_PRIVATE,
                                    tag='mgmt'),
        nova.objects.NetworkRequest(port_id=shapes.PORT),
    ])
    assert normalize.requested_networks(requests) == (
        models.RequestedNetwork(network_id=shapes.NET_PRIVATE, tag='mgmt'),
        models.RequestedNetwork(port_id=shapes.PORT),
    )


def test_network_request_with_fixed_address(
        nova: types.SimpleNamespace) -> None:
    request = nova.objects.NetworkRequest(network_id=shapes.NET_PRIVATE,
                                          address='10.0.0.9')
    assert type(request.address).__module__.startswith('netaddr')
    assert normalize.requested_networks(
        nova.objects.NetworkRequestList(objects=[request])) == (
        models.RequestedNetwork(network_id=shapes.NET_PRIVATE,
                                address='10.0.0.9'),)


def test_request_context(nova: types.SimpleNamespace) -> None:
    ctx = shapes.context(nova)
    assert ctx.auth_token == shapes.CANARIES['auth_token']
    result = normalize.request_info(ctx)
    assert result == shapes.EXPECTED_REQUEST
    shapes.assert_no_secrets(result)
    admin = nova.context.get_admin_context()
    assert normalize.request_info(admin) == models.RequestInfo(
        request_id=admin.request_id)
