"""Nova-shaped arguments for each hook point and each release shape.

``release`` selects the shape Nova used: 12-14 (Liberty to Newton: dict
flavor, ``security_group``), 15 (``quotas``), 16, 17-20 (``host_list``)
and 21 (``accel_uuids``); ``update_cells`` is passed up to 19.
Every secret-bearing argument carries a value from :data:`SECRETS` (the
canaries of :mod:`~novahooks_core.lifecycle.canaries`), so tests can
assert that none of them leaks.
"""

from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple
import uuid as uuidlib

from novahooks_core.lifecycle import canaries, fakes

#: The secret arguments' values, as Nova passes them.
SECRETS: Dict[str, str] = {
    'admin_password': canaries.ADMIN_PASSWORD,
    'user_data': canaries.USER_DATA,
    'key_data': canaries.KEY_DATA,
    'injected_file': canaries.INJECTED_FILE,
    'connection_info': canaries.CONNECTION_INFO['rbd'],
    'auth_token': canaries.AUTH_TOKEN,
}

Args = Tuple[Tuple[Any, ...], Dict[str, Any]]


class Service:
    """Stands for the ``self`` of Nova's API or compute manager."""

    def __init__(self, name: str) -> None:
        self.name = name


def new_uuid() -> str:
    return str(uuidlib.uuid4())


def context(project_id: str = 'project-a', user_id: str = 'user-a'
            ) -> fakes.RequestContext:
    return fakes.RequestContext('req-' + new_uuid(), user_id, project_id,
                                auth_token=SECRETS['auth_token'])


def flavor(release: int = 21, **overrides: Any) -> Any:
    """``m1.small``: a Flavor object, or the dict Nova ≤14 passed."""
    values: Dict[str, Any] = dict(
        id=2, name='m1.small', memory_mb=2048, vcpus=1, root_gb=20,
        ephemeral_gb=0, flavorid='2', swap=0, rxtx_factor=1.0,
        vcpu_weight=0, disabled=False, is_public=True,
        extra_specs={'hw:cpu_policy': 'shared'})
    if release >= 17:
        values['description'] = None
    values.update(overrides)
    if release <= 14:
        values.update(created_at=None, updated_at=None, deleted_at=None,
                      deleted=False)
        return values
    return fakes.Flavor(**values)


def vif(address: str = '10.0.0.5', ipv6: Optional[str] = None,
        floating: Sequence[str] = (), network_label: str = 'private',
        network_id: Optional[str] = None, vif_type: str = 'ovs',
        active: bool = True, mac: Optional[str] = None,
        port_id: Optional[str] = None) -> Dict[str, Any]:
    """One VIF dict in Nova's network-model shape."""
    subnets = [{
        'cidr': '10.0.0.0/24', 'version': 4,
        'gateway': {'address': '10.0.0.1', 'type': 'gateway', 'version': 4,
                    'meta': {}},
        'dns': [{'address': '10.0.0.2', 'type': 'dns', 'version': 4,
                 'meta': {}}],
        'routes': [], 'meta': {'dhcp_server': '10.0.0.2'},
        'ips': [{'address': address, 'type': 'fixed', 'version': 4,
                 'meta': {},
                 'floating_ips': [{'address': f, 'type': 'floating',
                                   'version': 4, 'meta': {}}
                                  for f in floating]}],
    }]
    if ipv6:
        subnets.append({
            'cidr': 'fd00:10::/64', 'version': 6,
            'gateway': {'address': 'fd00:10::1', 'type': 'gateway',
                        'version': 6, 'meta': {}},
            'dns': [], 'routes': [], 'meta': {},
            'ips': [{'address': ipv6, 'type': 'fixed', 'version': 6,
                     'meta': {}, 'floating_ips': []}],
        })
    port = port_id or new_uuid()
    return {
        'id': port, 'address': mac or 'fa:16:3e:00:00:%02x'
        % (sum(map(ord, port)) % 256),
        'network': {'id': network_id or 'net-' + network_label,
                    'bridge': 'br-int', 'label': network_label,
                    'subnets': subnets,
                    'meta': {'injected': False, 'tenant_id': 'project-a',
                             'mtu': 1450}},
        'type': vif_type, 'details': {'port_filter': True},
        'devname': 'tap' + port[:11], 'ovs_interfaceid': port,
        'qbh_params': None, 'qbg_params': None, 'active': active,
        'vnic_type': 'normal', 'profile': {}, 'preserve_on_delete': False,
        'meta': {},
    }


def network_info(*vifs: Dict[str, Any]) -> fakes.NetworkInfo:
    """A ``NetworkInfo`` list of the given VIFs."""
    return fakes.NetworkInfo(vifs)


def instance(state: str = 'building', host: Optional[str] = None,
             network: Optional[Iterable[Dict[str, Any]]] = None,
             release: int = 21, unset: Sequence[str] = (),
             **fields: Any) -> fakes.Instance:
    """An Instance as hooks see it; fields in ``unset`` are left unloaded."""
    instance_uuid = fields.pop('uuid', None) or new_uuid()
    values: Dict[str, Any] = dict(
        uuid=instance_uuid, hostname='web-1', display_name='web 1',
        project_id='project-a', user_id='user-a', host=host, node=host,
        availability_zone='nova', vm_state=state, task_state=None,
        power_state=0, image_ref='155d900f-4e14-4e4c-a73d-069cbf4541e6',
        key_name='mykey', key_data=SECRETS['key_data'],
        user_data=SECRETS['user_data'], reservation_id='r-abcdefgh',
        launched_at=None, terminated_at=None, deleted=False,
        metadata={'role': 'web'}, flavor=flavor(max(release, 15)),
        tags=fakes.TagList(objects=[fakes.Tag(resource_id=instance_uuid,
                                              tag='prod')]),
        info_cache=fakes.InstanceInfoCache(
            instance_uuid=instance_uuid,
            network_info=fakes.NetworkInfo(network or [])))
    values.update(fields)
    obj = fakes.Instance(**values)
    for name in unset:
        obj.obj_reset(name)
    return obj


def volume_bdm(volume_id: Optional[str] = None, boot_index: int = 0,
               delete_on_termination: bool = False, size: int = 10,
               **fields: Any) -> fakes.BlockDeviceMapping:
    """A volume-backed mapping holding a canary ``connection_info``."""
    values: Dict[str, Any] = dict(
        id=1, source_type='volume', destination_type='volume',
        boot_index=boot_index, device_name='/dev/vda', device_type='disk',
        disk_bus='virtio', delete_on_termination=delete_on_termination,
        volume_id=volume_id or new_uuid(), snapshot_id=None, image_id=None,
        volume_size=size, no_device=False, guest_format=None, tag=None,
        attachment_id=new_uuid(), uuid=new_uuid(), volume_type=None,
        connection_info=SECRETS['connection_info'])
    values.update(fields)
    return fakes.BlockDeviceMapping(**values)


def canary_bdms() -> fakes.BlockDeviceMappingList:
    """One volume of each common driver (RBD, iSCSI, NFS, FC), each with
    its canary ``connection_info``."""
    return bdm_list(*(volume_bdm(boot_index=-1 if index else 0,
                                 device_name='/dev/vd%s' % 'abcd'[index],
                                 connection_info=info)
                      for index, info in enumerate(
                          canaries.CONNECTION_INFO.values())))


def image_bdm(image_id: str = '155d900f-4e14-4e4c-a73d-069cbf4541e6'
              ) -> fakes.BlockDeviceMapping:
    """The local root disk of an image boot."""
    return fakes.BlockDeviceMapping(
        id=1, source_type='image', destination_type='local', boot_index=0,
        device_name='/dev/vda', device_type='disk', disk_bus=None,
        delete_on_termination=True, volume_id=None, snapshot_id=None,
        image_id=image_id, volume_size=None, no_device=False,
        guest_format=None, tag=None, attachment_id=None, uuid=new_uuid(),
        volume_type=None, connection_info=None)


def bdm_list(*bdms: fakes.BlockDeviceMapping) -> fakes.BlockDeviceMappingList:
    return fakes.BlockDeviceMappingList(objects=list(bdms))


def create_instance_args(release: int = 21, flavor_value: Any = None,
                         image: str = '155d900f-4e14-4e4c-a73d-069cbf4541e6',
                         **overrides: Any) -> Args:
    """``API.create`` arguments as the servers API passes them."""
    kwargs: Dict[str, Any] = dict(
        kernel_id=None, ramdisk_id=None, min_count=1, max_count=1,
        display_name='web 1', display_description='web 1',
        key_name='mykey', key_data=SECRETS['key_data'],
        security_groups=['default'], availability_zone=None,
        user_data=SECRETS['user_data'], metadata={'role': 'web'},
        injected_files=[('/etc/motd', SECRETS['injected_file'])],
        admin_password=SECRETS['admin_password'],
        block_device_mapping=[{'boot_index': 0, 'source_type': 'image',
                               'destination_type': 'local',
                               'image_id': image,
                               'delete_on_termination': True}],
        access_ip_v4=None, access_ip_v6=None,
        requested_networks=fakes.NetworkRequestList(objects=[
            fakes.NetworkRequest(network_id='net-private', address=None,
                                 port_id=None, tag=None)]),
        config_drive=None, auto_disk_config=None, scheduler_hints={},
        legacy_bdm=False, shutdown_terminate=False,
        check_server_group_quota=True)
    if release >= 15:
        kwargs.update(forced_host=None, forced_node=None)
    else:
        kwargs['security_group'] = kwargs.pop('security_groups')
        kwargs['requested_networks'] = [('net-private', None, None, None)]
    for name, since, value in (
            ('tags', 16, []), ('supports_multiattach', 17, False),
            ('trusted_certs', 18, None),
            ('supports_port_resource_request', 19, False),
            ('requested_host', 20, None),
            ('requested_hypervisor_hostname', 20, None)):
        if release >= since:
            kwargs[name] = value
    kwargs.update(overrides)
    flavor_arg = flavor_value if flavor_value is not None else flavor(release)
    return (Service('compute-api'), context(), flavor_arg, image), kwargs


def build_instance_args(inst: Any, release: int = 21,
                        bdms: Optional[fakes.BlockDeviceMappingList] = None,
                        node: str = 'node-1') -> Args:
    """``_do_build_and_run_instance`` arguments: all positional."""
    args: List[Any] = [
        Service('compute-manager'), context(), inst, {'id': 'image'},
        {'instance_uuids': [inst.uuid]}, {'retry': {'num_attempts': 1}},
        SECRETS['admin_password'], [('/etc/motd', SECRETS['injected_file'])],
        fakes.NetworkRequestList(objects=[]), ['default'],
        bdms if bdms is not None else bdm_list(image_bdm()), node, {}]
    if release >= 17:
        args.append([])
    if release >= 21:
        args.append([])
    return tuple(args), {}


def delete_instance_args(inst: Any, release: int = 21,
                         bdms: Optional[fakes.BlockDeviceMappingList] = None
                         ) -> Args:
    """``_delete_instance`` arguments: positional, ``quotas`` up to 15."""
    args: List[Any] = [Service('compute-manager'), context(), inst,
                       bdms if bdms is not None else bdm_list(image_bdm())]
    if release <= 15:
        args.append(object())
    return tuple(args), {}


_NOT_GIVEN = object()


def instance_network_info_args(inst: Any, nw_info: Any = _NOT_GIVEN,
                               release: int = 21, positional: bool = False
                               ) -> Args:
    """``update_instance_cache_with_nw_info`` arguments.

    ``nw_info`` by keyword (as on allocation), positionally (as on
    deallocation during a delete), or left out (the periodic heal).
    """
    args: List[Any] = [Service('network-api'), context(), inst]
    kwargs: Dict[str, Any] = {}
    if nw_info is not _NOT_GIVEN:
        if positional:
            args.append(nw_info)
        else:
            kwargs['nw_info'] = nw_info
    if release <= 19:
        kwargs['update_cells'] = True
    return tuple(args), kwargs
