"""Events of each hook point, from arguments built with a real Nova
release's classes in the shape that release's callers pass them.

``instance_network_info`` runs Nova's own hooked function (only its
database write is replaced), wrapped by Nova's own ``add_hook``.
"""

import inspect
import types
from typing import Any, Dict, Iterator, List, Tuple

import nova_probe
import nova_shapes as shapes
import pytest

from novahooks_core import models, normalize
from novahooks_core.hooks.event import HookEvent
from novahooks_core.models import HookPoint, Phase

UUIDS = ('6f1e6a3c-2b1d-4c7e-9a8b-1d2e3f4a5b6c',
         '7a2f7b4d-3c2e-4d8f-8b9c-2e3f4a5b6c7d')


class Service:
    """The ``self`` of Nova's API or compute manager (never read)."""


def _normalized(hook: HookPoint, phase: Phase, args: Tuple[Any, ...],
                kwargs: Dict[str, Any], result: Any = None
                ) -> Dict[str, Any]:
    event = HookEvent(hook, phase, args, kwargs, result)
    normalized = event.normalized()
    shapes.assert_no_secrets(normalized, event.normalize_all())
    return normalized


def _expected(hook: HookPoint, phase: Phase, releases: Tuple[int, int],
              **values: Any) -> Dict[str, Any]:
    expected: Dict[str, Any] = {
        'hook': hook, 'phase': phase, 'nova_releases': releases,
        'request': shapes.EXPECTED_REQUEST, 'instances': (),
        'reservation_id': None, 'flavor': None, 'create_request': None,
        'block_devices': (), 'network_info': None, 'result': None}
    expected.update(values)
    return expected


def _create_call(nova: types.SimpleNamespace, ctx: Any
                 ) -> Tuple[Tuple[Any, ...], Dict[str, Any]]:
    """``API.create`` arguments as the release's servers API passes them
    (``nova/api/openstack/compute/servers.py``: three positional, the rest
    by keyword; ``requested_host``/``..._hypervisor_hostname`` from 20)."""
    from_api = nova.block_device.BlockDeviceDict.from_api
    kwargs: Dict[str, Any] = dict(
        display_name='web 1', display_description='web server',
        availability_zone='az1', forced_host=None, forced_node=None,
        metadata={'role': 'web'}, admin_password=shapes.CANARIES[
            'admin_password'],
        check_server_group_quota=True, supports_multiattach=True,
        supports_port_resource_request=False,
        block_device_mapping=[
            from_api({'boot_index': 0, 'source_type': 'image',
                      'destination_type': 'local', 'uuid': shapes.IMAGE,
                      'delete_on_termination': True}, True),
            from_api({'boot_index': -1, 'source_type': 'blank',
                      'destination_type': 'volume', 'volume_size': 5},
                     True)],
        legacy_bdm=False,
        requested_networks=nova.objects.NetworkRequestList(objects=[
            nova.objects.NetworkRequest(network_id=shapes.NET_PRIVATE,
                                        tag='mgmt'),
            nova.objects.NetworkRequest(port_id=shapes.PORT)]),
        user_data=shapes.CANARIES['user_data'], key_name='mykey',
        config_drive=True, security_groups=['default', 'web'],
        scheduler_hints={}, min_count=1, max_count=2, tags=['prod'])
    if nova.major >= 20:
        kwargs.update(requested_host=None,
                      requested_hypervisor_hostname=None)
    args = (Service(), ctx, shapes.flavor(nova), shapes.IMAGE)
    # The call is valid for this release's real API.create.
    inspect.signature(nova.compute_api.API.create).bind(*args, **kwargs)
    return args, kwargs


def test_create_instance(nova: types.SimpleNamespace,
                         load_guard: Any) -> None:
    ctx = shapes.context(nova)
    args, kwargs = _create_call(nova, ctx)
    releases = (19, 21) if nova.major == 19 else (20, 21)
    request = models.CreateRequest(
        image_ref=shapes.IMAGE, display_name='web 1',
        display_description='web server', key_name='mykey',
        availability_zone='az1', min_count=1, max_count=2,
        security_groups=('default', 'web'), metadata={'role': 'web'},
        tags=('prod',),
        requested_networks=(
            models.RequestedNetwork(network_id=shapes.NET_PRIVATE,
                                    tag='mgmt'),
            models.RequestedNetwork(port_id=shapes.PORT)),
        block_devices=(
            models.BlockDevice(source_type='image',
                               destination_type='local', boot_index=0,
                               delete_on_termination=True,
                               image_id=shapes.IMAGE),
            models.BlockDevice(source_type='blank',
                               destination_type='volume', boot_index=-1,
                               delete_on_termination=False, volume_size=5)),
        config_drive=True, has_admin_password=True, has_key_data=False,
        user_data_bytes=len(shapes.CANARIES['user_data']),
        injected_files_count=0)

    assert _normalized(HookPoint.CREATE_INSTANCE, Phase.PRE, args,
                       kwargs) == _expected(
        HookPoint.CREATE_INSTANCE, Phase.PRE, releases,
        flavor=shapes.EXPECTED_FLAVOR, create_request=request,
        block_devices=request.block_devices)

    # What API.create returns: instances not yet on a host (no id, host or
    # node), with an empty info cache, and the reservation id.
    created = [shapes.instance(
        nova, ctx, loaded=False, uuid=uuid, hostname='web-%d' % (i + 1),
        display_name='web 1', task_state='scheduling', launch_index=i,
        flavor=shapes.flavor(nova),
        info_cache=shapes.info_cache(
            nova, nova.network_model.NetworkInfo(), uuid),
        tags=shapes.tags(nova, ['prod'], uuid))
        for i, uuid in enumerate(UUIDS)]
    new = shapes.replace(
        shapes.EXPECTED_INSTANCE, id=None, host=None, node=None,
        task_state='scheduling', tags=('prod',),
        network_info=models.NetworkInfo())

    assert _normalized(HookPoint.CREATE_INSTANCE, Phase.POST, args, kwargs,
                       (created, 'r-3fhpjulh')) == _expected(
        HookPoint.CREATE_INSTANCE, Phase.POST, releases,
        instances=(shapes.replace(new, uuid=UUIDS[0]),
                   shapes.replace(new, uuid=UUIDS[1], hostname='web-2')),
        reservation_id='r-3fhpjulh', flavor=shapes.EXPECTED_FLAVOR,
        create_request=request, block_devices=request.block_devices)
    assert [i.obj_attr_is_set('host') for i in created] == [False, False]


def _build_args(nova: types.SimpleNamespace, ctx: Any, instance: Any,
                bdms: Any) -> Tuple[Any, ...]:
    """Every parameter of the release's ``_do_build_and_run_instance``,
    positionally, as ``build_and_run_instance`` passes them."""
    values = dict(
        self=Service(), context=ctx, instance=instance,
        image={'id': shapes.IMAGE, 'name': 'cirros', 'properties': {}},
        request_spec=nova.objects.RequestSpec(
            instance_uuid=shapes.INSTANCE_UUID, num_instances=1),
        filter_properties={'retry': {'num_attempts': 1, 'hosts': []}},
        admin_password=shapes.CANARIES['admin_password'],
        injected_files=[('/etc/motd', shapes.CANARIES['user_data'])],
        requested_networks=nova.objects.NetworkRequestList(objects=[
            nova.objects.NetworkRequest(port_id=shapes.PORT)]),
        security_groups=['default'], block_device_mapping=bdms,
        node='node-1', limits={'memory_mb': 8192}, host_list=[],
        accel_uuids=[])
    names = list(inspect.signature(
        nova.compute_manager.ComputeManager._do_build_and_run_instance
    ).parameters)
    return tuple(values[name] for name in names)


def test_build_instance(nova: types.SimpleNamespace,
                        load_guard: Any) -> None:
    ctx = shapes.context(nova)
    instance = shapes.instance(nova, ctx)
    args = _build_args(nova, ctx, instance, shapes.bdms(nova, ctx))
    releases = (21, 21) if nova.major >= 21 else (17, 20)
    assert len(args) == (15 if nova.major >= 21 else 14)

    assert _normalized(HookPoint.BUILD_INSTANCE, Phase.PRE, args,
                       {}) == _expected(
        HookPoint.BUILD_INSTANCE, Phase.PRE, releases,
        instances=(shapes.EXPECTED_INSTANCE,), flavor=shapes.EXPECTED_FLAVOR,
        block_devices=shapes.EXPECTED_BDMS,
        network_info=shapes.EXPECTED_NETWORK)

    instance.vm_state, instance.task_state = 'active', None
    instance.launched_at = shapes.LAUNCHED
    active = shapes.replace(shapes.EXPECTED_INSTANCE, vm_state='active',
                            task_state=None,
                            launched_at='2020-05-01T12:00:00+00:00')

    assert _normalized(HookPoint.BUILD_INSTANCE, Phase.POST, args, {},
                       'active') == _expected(
        HookPoint.BUILD_INSTANCE, Phase.POST, releases,
        instances=(active,), flavor=shapes.EXPECTED_FLAVOR,
        block_devices=shapes.EXPECTED_BDMS,
        network_info=shapes.EXPECTED_NETWORK, result='active')


def test_delete_instance(nova: types.SimpleNamespace,
                         load_guard: Any) -> None:
    ctx = shapes.context(nova)
    instance = shapes.instance(nova, ctx, vm_state='active',
                               task_state='deleting',
                               launched_at=shapes.LAUNCHED)
    args = (Service(), ctx, instance, shapes.bdms(nova, ctx))
    inspect.signature(
        nova.compute_manager.ComputeManager._delete_instance).bind(*args)
    before = shapes.replace(shapes.EXPECTED_INSTANCE, vm_state='active',
                            task_state='deleting',
                            launched_at='2020-05-01T12:00:00+00:00')

    assert _normalized(HookPoint.DELETE_INSTANCE, Phase.PRE, args,
                       {}) == _expected(
        HookPoint.DELETE_INSTANCE, Phase.PRE, (16, 21),
        instances=(before,), flavor=shapes.EXPECTED_FLAVOR,
        block_devices=shapes.EXPECTED_BDMS,
        network_info=shapes.EXPECTED_NETWORK)

    instance.vm_state, instance.task_state = 'deleted', None
    instance.deleted, instance.terminated_at = True, shapes.TERMINATED
    instance.info_cache.network_info = nova.network_model.NetworkInfo()
    after = shapes.replace(before, vm_state='deleted', task_state=None,
                           deleted=True,
                           terminated_at='2020-05-02T08:30:00+00:00',
                           network_info=models.NetworkInfo())

    assert _normalized(HookPoint.DELETE_INSTANCE, Phase.POST, args, {},
                       None) == _expected(
        HookPoint.DELETE_INSTANCE, Phase.POST, (16, 21), instances=(after,),
        flavor=shapes.EXPECTED_FLAVOR, block_devices=shapes.EXPECTED_BDMS,
        network_info=models.NetworkInfo())


# instance_network_info through Nova's own update_instance_cache_with_nw_info


class NetworkApi:
    """The ``impl`` argument: Nova's network API, asked on a cache heal."""

    def __init__(self, nova: types.SimpleNamespace) -> None:
        self.nova = nova
        self.asked = 0

    def _get_instance_nw_info(self, context: Any, instance: Any,
                              **kwargs: Any) -> Any:
        self.asked += 1
        return shapes.network_info(self.nova)


class PendingProbe(nova_probe.Probe):
    """Also records whether ``nw_info`` was still being allocated."""

    hook_point = HookPoint.INSTANCE_NETWORK_INFO

    def inspect(self, event: Any) -> Dict[str, Any]:
        given = event.raw_call.get('nw_info')
        return {'pending': getattr(given, '_gt', None) is not None}


@pytest.fixture
def cache_writes(nova: types.SimpleNamespace,
                 monkeypatch: pytest.MonkeyPatch) -> List[str]:
    """Replace the database write under ``InstanceInfoCache.save``: the
    JSON text Nova would store is recorded and returned as the row."""
    from nova.objects import instance_info_cache
    writes: List[str] = []

    def instance_info_cache_update(context: Any, instance_uuid: str,
                                   values: Dict[str, Any]) -> Dict[str, Any]:
        writes.append(values['network_info'])
        return {'instance_uuid': instance_uuid,
                'network_info': values['network_info'], 'created_at': None,
                'updated_at': None, 'deleted_at': None, 'deleted': False}

    monkeypatch.setattr(instance_info_cache.db, 'instance_info_cache_update',
                        instance_info_cache_update)
    return writes


@pytest.fixture
def probe(nova: types.SimpleNamespace,
          nova_hooks: types.ModuleType) -> Iterator[List[nova_probe.Seen]]:
    nova_probe.reset()
    nova_probe.install(nova_hooks, {'instance_network_info': [PendingProbe]})
    yield nova_probe.Probe.seen
    nova_probe.reset()


def _fresh_instance(nova: types.SimpleNamespace, ctx: Any) -> Any:
    """An instance whose cache is still empty (before allocation)."""
    return shapes.instance(nova, ctx, info_cache=shapes.info_cache(
        nova, nova.network_model.NetworkInfo()))


def _releases(kwargs: Dict[str, Any]) -> Tuple[int, int]:
    return (12, 19) if 'update_cells' in kwargs else (12, 21)


def _update_kwargs(nova: types.SimpleNamespace,
                   update_cells: bool) -> List[Dict[str, Any]]:
    """Keyword variants: with ``update_cells`` only where it exists (19)."""
    variants: List[Dict[str, Any]] = [{}]
    if update_cells and nova.major <= 19:
        variants.append({'update_cells': False})
    return variants


def test_network_info_allocated(nova: types.SimpleNamespace,
                                load_guard: Any, cache_writes: List[str],
                                probe: List[nova_probe.Seen]) -> None:
    update = nova.network_api.update_instance_cache_with_nw_info
    assert update.__hook_name__ == 'instance_network_info'
    for extra in _update_kwargs(nova, update_cells=True):
        probe.clear()
        ctx = shapes.context(nova)
        instance = _fresh_instance(nova, ctx)

        assert update(NetworkApi(nova), ctx, instance,
                      nw_info=shapes.network_info(nova), **extra) is None

        pre, post = probe
        assert (pre.event.phase, post.event.phase) == (Phase.PRE, Phase.POST)
        for seen in (pre, post):
            assert seen.normalized['nova_releases'] == _releases(extra)
            assert seen.normalized['request'] == shapes.EXPECTED_REQUEST
            assert seen.normalized['network_info'] == shapes.EXPECTED_NETWORK
            assert seen.normalized['instances'] == (
                shapes.EXPECTED_INSTANCE,)
        # post reads the cache object Nova saved and put on the instance.
        assert instance.info_cache.obj_attr_is_set('created_at')
        assert len(cache_writes) == 1
        assert normalize.network_info(cache_writes[0]) == (
            shapes.EXPECTED_NETWORK)
        cache_writes.clear()


def test_network_info_healed(nova: types.SimpleNamespace, load_guard: Any,
                             cache_writes: List[str],
                             probe: List[nova_probe.Seen]) -> None:
    """No ``nw_info``: Nova asks the network API; only post knows it."""
    update = nova.network_api.update_instance_cache_with_nw_info
    ctx = shapes.context(nova)
    instance = _fresh_instance(nova, ctx)
    impl = NetworkApi(nova)

    update(impl, ctx, instance)

    pre, post = probe
    assert impl.asked == 1
    assert pre.normalized['network_info'] is None
    assert pre.normalized['instances'] == (shapes.replace(
        shapes.EXPECTED_INSTANCE, network_info=models.NetworkInfo()),)
    assert post.normalized['network_info'] == shapes.EXPECTED_NETWORK
    assert post.normalized['instances'] == (shapes.EXPECTED_INSTANCE,)
    assert pre.normalized['nova_releases'] == (12, 21)


def test_network_info_deallocated(nova: types.SimpleNamespace,
                                  load_guard: Any, cache_writes: List[str],
                                  probe: List[nova_probe.Seen]) -> None:
    """Deallocation passes an empty NetworkInfo as 4th positional."""
    update = nova.network_api.update_instance_cache_with_nw_info
    ctx = shapes.context(nova)
    instance = shapes.instance(nova, ctx, vm_state='active',
                               task_state='deleting')

    update(NetworkApi(nova), ctx, instance,
           nova.network_model.NetworkInfo([]))

    pre, post = probe
    assert pre.normalized['network_info'] == models.NetworkInfo()
    # pre: the instance still has its addresses in the cache, but the
    # event is about the empty nw_info given.
    assert pre.normalized['instances'][0].network_info == models.NetworkInfo()
    assert post.normalized['network_info'] == models.NetworkInfo()
    assert normalize.info_cache_network_info(instance) == models.NetworkInfo()
    assert cache_writes == ['[]']


def test_network_info_async_allocation(nova: types.SimpleNamespace,
                                       load_guard: Any,
                                       cache_writes: List[str],
                                       probe: List[nova_probe.Seen]) -> None:
    """A NetworkInfoAsyncWrapper: pre must not wait for it; by post,
    Nova's save has (serializing waits), and the result is known."""
    update = nova.network_api.update_instance_cache_with_nw_info
    ctx = shapes.context(nova)
    instance = _fresh_instance(nova, ctx)
    wrapper = nova.network_model.NetworkInfoAsyncWrapper(
        shapes.network_info, nova)

    update(NetworkApi(nova), ctx, instance, nw_info=wrapper)

    pre, post = probe
    assert pre.extra == {'pending': True}
    assert pre.normalized['network_info'] is None
    assert post.extra == {'pending': False}
    assert post.normalized['network_info'] == shapes.EXPECTED_NETWORK
    assert post.normalized['instances'] == (shapes.EXPECTED_INSTANCE,)
    assert len(cache_writes) == 1


def test_network_info_of_deleted_instance(
        nova: types.SimpleNamespace, load_guard: Any,
        cache_writes: List[str], probe: List[nova_probe.Seen]) -> None:
    """Nova returns early for a deleted instance; both hooks still run."""
    update = nova.network_api.update_instance_cache_with_nw_info
    ctx = shapes.context(nova)
    instance = shapes.instance(nova, ctx, vm_state='deleted', deleted=True)

    update(NetworkApi(nova), ctx, instance,
           nw_info=nova.network_model.NetworkInfo([]))

    pre, post = probe
    assert cache_writes == []
    assert post.normalized['instances'][0].deleted is True
    assert post.normalized['network_info'] == models.NetworkInfo()
