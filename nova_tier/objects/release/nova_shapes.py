"""Inputs built with a real Nova release's classes, and what they normalize
to. Used by the tests beside this module; imports no ``nova`` itself (the
``nova`` argument is the conftest's fixture of the release under test)."""

import dataclasses
import datetime
import json
import types
from typing import Any, Dict, Iterable, List

from novahooks_core import models
from novahooks_core.testing import factories

INSTANCE_UUID = '6f1e6a3c-2b1d-4c7e-9a8b-1d2e3f4a5b6c'
IMAGE = '155d900f-4e14-4e4c-a73d-069cbf4541e6'
NET_PRIVATE = '4e2b6b8e-2f43-4a6a-9a1e-7c5b9d6f0a11'
PORT = '0f8e9c2a-5b6d-4c3e-8f1a-2b3c4d5e6f70'
VOLUME_ROOT = '0b0b0b0b-1c1c-4d2d-8e3e-4f4f4f4f4f4f'
VOLUME_DATA = '1c1c1c1c-2d2d-4e3e-8f4f-505050505050'
SNAPSHOT = '2d2d2d2d-3e3e-4f4f-8050-616161616161'
ATTACHMENT = '3e3e3e3e-4f4f-4050-8161-727272727272'
BDM_UUID = '4f4f4f4f-5050-4161-8272-838383838383'
LAUNCHED = datetime.datetime(2020, 5, 1, 12, 0, 0,
                             tzinfo=datetime.timezone.utc)
TERMINATED = datetime.datetime(2020, 5, 2, 8, 30, 0,
                               tzinfo=datetime.timezone.utc)

#: Secrets of this tier's own inputs; factories.SECRETS are checked too.
CANARIES: Dict[str, str] = {
    'admin_password': 'canary-Tier-AdminPass-41c7',
    'user_data': 'canary-Tier-UserData-IyEvYmluL2Jhc2gK',
    'key_data': 'ssh-ed25519 canary-Tier-KeyData-AAAAC3Nz tier@host',
    'auth_token': 'canary-Tier-AuthToken-gAAAAB',
    'rbd_secret': 'canary-Tier-RbdSecret-77e0',
    'chap_password': 'canary-Tier-ChapPass-0d3f',
}
CONNECTION_INFO_RBD = json.dumps({
    'driver_volume_type': 'rbd',
    'data': {'name': 'volumes/volume-' + VOLUME_ROOT,
             'auth_enabled': True, 'auth_username': 'cinder',
             'secret_type': 'ceph', 'secret_uuid': CANARIES['rbd_secret'],
             'hosts': ['192.0.2.10'], 'ports': ['6789']},
    'serial': VOLUME_ROOT})
CONNECTION_INFO_ISCSI = json.dumps({
    'driver_volume_type': 'iscsi',
    'data': {'target_iqn': 'iqn.2010-10.org.openstack:volume-' + VOLUME_DATA,
             'target_portal': '192.0.2.20:3260', 'target_lun': 1,
             'auth_method': 'CHAP', 'auth_username': 'chap-user',
             'auth_password': CANARIES['chap_password']},
    'serial': VOLUME_DATA})


def all_canaries() -> List[str]:
    """Every secret value the inputs of this tier carry."""
    return list(CANARIES.values()) + list(factories.SECRETS.values())


def assert_no_secrets(*values: Any) -> None:
    """No canary in the repr or JSON primitive form of any value."""
    for value in values:
        texts = (repr(value),
                 json.dumps(models.to_primitive(value), default=repr))
        for text in texts:
            leaked = [c for c in all_canaries() if c in text]
            assert not leaked, 'secrets %s leaked into %s' % (leaked, text)


# The network info cache of an instance as Nova stores it (the text of
# instance_info_caches.network_info, written by NetworkInfo.json()): an
# OVS port with IPv4 (one floating IP) and IPv6 (SLAAC) subnets, an SR-IOV
# port with two fixed IPs, two floating IPs and a route, and a port on a
# network without subnets.
STORED_NETWORK_INFO = """[
{"id": "0f8e9c2a-5b6d-4c3e-8f1a-2b3c4d5e6f70", "address": "fa:16:3e:11:22:33",
 "network": {"id": "4e2b6b8e-2f43-4a6a-9a1e-7c5b9d6f0a11", "bridge": "br-int",
  "label": "private", "subnets": [
   {"cidr": "10.0.0.0/24",
    "dns": [{"address": "10.0.0.2", "type": "dns", "version": 4, "meta": {}},
            {"address": "8.8.8.8", "type": "dns", "version": 4, "meta": {}}],
    "gateway": {"address": "10.0.0.1", "type": "gateway", "version": 4,
                "meta": {}},
    "ips": [{"address": "10.0.0.5", "type": "fixed", "version": 4,
             "meta": {}, "floating_ips": [{"address": "203.0.113.10",
             "type": "floating", "version": 4, "meta": {}}]}],
    "routes": [], "version": 4, "meta": {"dhcp_server": "10.0.0.2"}},
   {"cidr": "fd00:10::/64", "dns": [],
    "gateway": {"address": "fd00:10::1", "type": "gateway", "version": 6,
                "meta": {}},
    "ips": [{"address": "fd00:10::5", "type": "fixed", "version": 6,
             "meta": {}, "floating_ips": []}],
    "routes": [], "version": 6,
    "meta": {"ipv6_address_mode": "slaac", "ipv6_ra_mode": "slaac"}}],
  "meta": {"tenant_id": "project-a", "mtu": 1450, "physical_network": null,
           "tunneled": true}},
 "type": "ovs",
 "details": {"port_filter": true, "ovs_hybrid_plug": false,
             "datapath_type": "system", "bridge_name": "br-int",
             "connectivity": "l2"},
 "devname": "tap0f8e9c2a-5b",
 "ovs_interfaceid": "0f8e9c2a-5b6d-4c3e-8f1a-2b3c4d5e6f70",
 "qbh_params": null, "qbg_params": null, "active": true,
 "vnic_type": "normal", "profile": {}, "preserve_on_delete": false,
 "meta": {}},
{"id": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", "address": "fa:16:3e:44:55:66",
 "network": {"id": "7a1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b", "bridge": "br-int",
  "label": "storage", "subnets": [
   {"cidr": "192.168.20.0/24", "dns": [],
    "gateway": {"address": "192.168.20.1", "type": "gateway", "version": 4,
                "meta": {}},
    "ips": [{"address": "192.168.20.7", "type": "fixed", "version": 4,
             "meta": {}, "floating_ips": []},
            {"address": "192.168.20.8", "type": "fixed", "version": 4,
             "meta": {}, "floating_ips": [
              {"address": "203.0.113.11", "type": "floating", "version": 4,
               "meta": {}},
              {"address": "203.0.113.12", "type": "floating", "version": 4,
               "meta": {}}]}],
    "routes": [{"cidr": "172.16.0.0/16",
                "gateway": {"address": "192.168.20.254", "type": "gateway",
                            "version": 4, "meta": {}},
                "interface": null, "meta": {}}],
    "version": 4, "meta": {}}],
  "meta": {"tenant_id": "project-a", "mtu": 9000,
           "physical_network": "physnet1", "tunneled": false}},
 "type": "hw_veb", "details": {"vlan": "120"}, "devname": "tapa1b2c3d4-e5",
 "ovs_interfaceid": null, "qbh_params": null, "qbg_params": null,
 "active": false, "vnic_type": "direct",
 "profile": {"pci_slot": "0000:05:00.2", "physical_network": "physnet1",
             "pci_vendor_info": "8086:154c"},
 "preserve_on_delete": true, "meta": {}},
{"id": "b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e", "address": "fa:16:3e:77:88:99",
 "network": {"id": "c0ffee00-0000-4000-8000-000000000001", "bridge": null,
  "label": "no-ip", "subnets": [],
  "meta": {"tenant_id": "project-b", "mtu": null}},
 "type": "ovs", "details": {}, "devname": "tapb2c3d4e5-f6",
 "ovs_interfaceid": null, "qbh_params": null, "qbg_params": null,
 "active": true, "vnic_type": "normal", "profile": {},
 "preserve_on_delete": false, "meta": {}}
]"""

EXPECTED_NETWORK = models.NetworkInfo(vifs=(
    models.Vif(
        id=PORT, address='fa:16:3e:11:22:33', type='ovs', active=True,
        vnic_type='normal', devname='tap0f8e9c2a-5b', network_id=NET_PRIVATE,
        network_label='private', bridge='br-int', tenant_id='project-a',
        mtu=1450, subnets=(
            models.Subnet(
                cidr='10.0.0.0/24', version=4, gateway='10.0.0.1',
                dns=('10.0.0.2', '8.8.8.8'),
                ips=(models.IpAddress('10.0.0.5', 4, 'fixed',
                                      ('203.0.113.10',)),)),
            models.Subnet(
                cidr='fd00:10::/64', version=6, gateway='fd00:10::1',
                dns=(), ips=(models.IpAddress('fd00:10::5', 6, 'fixed'),)),
        )),
    models.Vif(
        id='a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d',
        address='fa:16:3e:44:55:66', type='hw_veb', active=False,
        vnic_type='direct', devname='tapa1b2c3d4-e5',
        network_id='7a1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b',
        network_label='storage', bridge='br-int', tenant_id='project-a',
        mtu=9000, subnets=(
            models.Subnet(
                cidr='192.168.20.0/24', version=4, gateway='192.168.20.1',
                dns=(), ips=(
                    models.IpAddress('192.168.20.7', 4, 'fixed'),
                    models.IpAddress('192.168.20.8', 4, 'fixed',
                                     ('203.0.113.11', '203.0.113.12')))),
        )),
    models.Vif(
        id='b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e',
        address='fa:16:3e:77:88:99', type='ovs', active=True,
        vnic_type='normal', devname='tapb2c3d4e5-f6',
        network_id='c0ffee00-0000-4000-8000-000000000001',
        network_label='no-ip', bridge=None, tenant_id='project-b', mtu=None,
        subnets=()),
))

EXPECTED_FLAVOR = models.Flavor(
    id=6, name='m1.large', flavorid='6', memory_mb=8192, vcpus=4,
    root_gb=80, ephemeral_gb=10, swap=512, rxtx_factor=1.5, vcpu_weight=2,
    disabled=False, is_public=False,
    extra_specs={'hw:cpu_policy': 'dedicated',
                 'quota:disk_read_bytes_sec': '10240000'},
    description='Large, pinned')

EXPECTED_INSTANCE = models.Instance(
    uuid=INSTANCE_UUID, id=42, hostname='web-1', display_name='web 1',
    project_id='project-a', user_id='user-a', host='compute-1',
    node='node-1', availability_zone='az1', vm_state='building',
    task_state='spawning', power_state=0, image_ref=IMAGE, key_name='mykey',
    reservation_id='r-3fhpjulh', launched_at=None, terminated_at=None,
    deleted=False, metadata={'role': 'web', 'owner': 'ops'},
    tags=('prod', 'web'), flavor=EXPECTED_FLAVOR,
    network_info=EXPECTED_NETWORK)

EXPECTED_BDMS = (
    models.BlockDevice(
        source_type='volume', destination_type='volume', boot_index=0,
        device_name='/dev/vda', device_type='disk', disk_bus='virtio',
        guest_format=None, delete_on_termination=False,
        volume_id=VOLUME_ROOT, snapshot_id=None, image_id=None,
        volume_size=20, volume_type='ceph-ssd', attachment_id=ATTACHMENT,
        uuid=BDM_UUID, tag='root', no_device=False),
    models.BlockDevice(
        source_type='blank', destination_type='local', boot_index=-1,
        device_name='/dev/vdb', device_type='disk', disk_bus='virtio',
        guest_format='swap', delete_on_termination=True, volume_size=1,
        no_device=False),
    models.BlockDevice(
        source_type='snapshot', destination_type='volume', boot_index=None,
        device_name='/dev/vdc', device_type='disk', disk_bus='scsi',
        delete_on_termination=True, volume_id=VOLUME_DATA,
        snapshot_id=SNAPSHOT, volume_size=50, tag='db', no_device=False),
)


def context(nova: types.SimpleNamespace) -> Any:
    """A ``nova.context.RequestContext`` as a user's API request has it."""
    return nova.context.RequestContext(
        user_id='user-a', project_id='project-a', is_admin=False,
        request_id='req-2b0c4e44-6a1f-4a8e-b0a4-64b2a5f2c8d1',
        auth_token=CANARIES['auth_token'], roles=['member'])


EXPECTED_REQUEST = models.RequestInfo(
    request_id='req-2b0c4e44-6a1f-4a8e-b0a4-64b2a5f2c8d1',
    project_id='project-a', user_id='user-a')


def flavor(nova: types.SimpleNamespace, **fields: Any) -> Any:
    """``m1.large`` as Nova loads it: ``projects`` left unloaded."""
    values: Dict[str, Any] = dict(
        id=6, name='m1.large', memory_mb=8192, vcpus=4, root_gb=80,
        ephemeral_gb=10, flavorid='6', swap=512, rxtx_factor=1.5,
        vcpu_weight=2, disabled=False, is_public=False,
        extra_specs={'hw:cpu_policy': 'dedicated',
                     'quota:disk_read_bytes_sec': '10240000'},
        description='Large, pinned')
    values.update(fields)
    return nova.objects.Flavor(**values)


def network_info(nova: types.SimpleNamespace,
                 text: str = STORED_NETWORK_INFO) -> Any:
    """Nova's ``NetworkInfo`` hydrated from stored JSON text."""
    return nova.network_model.NetworkInfo.hydrate(text)


def info_cache(nova: types.SimpleNamespace, nw_info: Any,
               instance_uuid: str = INSTANCE_UUID) -> Any:
    return nova.objects.InstanceInfoCache(instance_uuid=instance_uuid,
                                          network_info=nw_info)


def tags(nova: types.SimpleNamespace, names: Iterable[str],
         instance_uuid: str = INSTANCE_UUID) -> Any:
    return nova.objects.TagList(objects=[
        nova.objects.Tag(resource_id=instance_uuid, tag=name)
        for name in names])


def instance(nova: types.SimpleNamespace, ctx: Any = None,
             loaded: bool = True, **fields: Any) -> Any:
    """An ``objects.Instance`` as the compute manager holds one.

    ``loaded=False`` leaves ``id``, ``host``, ``node``, ``flavor``,
    ``info_cache`` and ``tags`` unset: reading one would lazy-load.
    """
    values: Dict[str, Any] = dict(
        uuid=INSTANCE_UUID, hostname='web-1', display_name='web 1',
        project_id='project-a', user_id='user-a', availability_zone='az1',
        vm_state='building', task_state='spawning', power_state=0,
        image_ref=IMAGE, key_name='mykey', key_data=CANARIES['key_data'],
        user_data=CANARIES['user_data'], reservation_id='r-3fhpjulh',
        launched_at=None, terminated_at=None, deleted=False,
        metadata={'role': 'web', 'owner': 'ops'},
        system_metadata={'image_base_image_ref': IMAGE})
    if loaded:
        values.update(
            id=42, host='compute-1', node='node-1', flavor=flavor(nova),
            info_cache=info_cache(nova, network_info(nova)),
            tags=tags(nova, ['prod', 'web']))
    values.update(fields)
    return nova.objects.Instance(context=ctx, **values)


def bdms(nova: types.SimpleNamespace, ctx: Any = None) -> Any:
    """A ``BlockDeviceMappingList`` (root volume, swap, snapshot volume).

    The swap and snapshot mappings leave ``uuid`` unset: reading it would
    have Nova generate and save one (its online migration).
    """
    bdm = nova.objects.BlockDeviceMapping
    return nova.objects.BlockDeviceMappingList(objects=[
        bdm(context=ctx, id=11, instance_uuid=INSTANCE_UUID,
            source_type='volume', destination_type='volume', boot_index=0,
            device_name='/dev/vda', device_type='disk', disk_bus='virtio',
            guest_format=None, delete_on_termination=False,
            volume_id=VOLUME_ROOT, snapshot_id=None, image_id=None,
            volume_size=20, volume_type='ceph-ssd', attachment_id=ATTACHMENT,
            uuid=BDM_UUID, tag='root', no_device=False,
            connection_info=CONNECTION_INFO_RBD),
        bdm(context=ctx, id=12, instance_uuid=INSTANCE_UUID,
            source_type='blank', destination_type='local', boot_index=-1,
            device_name='/dev/vdb', device_type='disk', disk_bus='virtio',
            guest_format='swap', delete_on_termination=True, volume_size=1,
            no_device=False),
        bdm(context=ctx, id=13, instance_uuid=INSTANCE_UUID,
            source_type='snapshot', destination_type='volume',
            boot_index=None, device_name='/dev/vdc', device_type='disk',
            disk_bus='scsi', delete_on_termination=True,
            volume_id=VOLUME_DATA, snapshot_id=SNAPSHOT, volume_size=50,
            tag='db', no_device=False,
            connection_info=CONNECTION_INFO_ISCSI),
    ])


def replace(model: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` (a short name for expected variants)."""
    return dataclasses.replace(model, **changes)
