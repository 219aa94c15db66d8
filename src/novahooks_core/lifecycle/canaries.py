"""Canary secrets shaped like the real thing, for tests to look for.

The factories put them where Nova does: the admin password, user data and
injected files (base64, as Nova passes them), an SSH public key, the
context's keystone token, and the ``connection_info`` of the common
volume drivers (an RBD keyring and user, iSCSI CHAP and discovery CHAP
passwords, NFS mount options, Fibre Channel WWNs). :data:`CANARIES` names
what no byte written may hold: each secret, the parts that carry it, and
the decoded text of the encoded ones. Each is distinctive enough to be
searched for in any output (logs, files, database rows)::

    assert canaries.found_in(output) == {}
"""

import base64
import json
from typing import Any, Dict, Mapping


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


ADMIN_PASSWORD = 'CnryAdminPass-7f3eQ9'
USER_DATA_PLAIN = ('#cloud-config\nchpasswd:\n  expire: false\n  list: |\n'
                   '    root:CnryUserDataPlain-4b7e\n')
#: As the servers API passes it (and the instance keeps it): base64.
USER_DATA = _b64(USER_DATA_PLAIN)
KEY_DATA = ('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICnrySshKey0d3f9b2a8c7e6d5'
            'f4a3b2c1d0e9f8 alice@laptop')
INJECTED_FILE_PLAIN = ('-----BEGIN OPENSSH PRIVATE KEY-----\n'
                       'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUCnryInjectedFile9a2c\n'
                       '-----END OPENSSH PRIVATE KEY-----\n')
#: Injected file contents, base64 as Nova passes them to hooks.
INJECTED_FILE = _b64(INJECTED_FILE_PLAIN)
AUTH_TOKEN = 'gAAAAABnCnryKeystoneToken0x7Yq3pL9sVb2Nf-WzR4tUe1Ik6Hj'

RBD_KEYRING = '[client.cinder]\n\tkey = AQCnryRbdKeyring/7f2m9Xq4Lw1bZk8d0==\n'
RBD_USER = 'cinder-CnryRbdUser'
RBD_SECRET_UUID = '5ec7e7c0-ffee-4bad-a55e-c0ffee5ec7e7'
CHAP_PASSWORD = 'CnryChapPw-Z8q2w'
DISCOVERY_PASSWORD = 'CnryDiscoveryPw-R4m1'
NFS_OPTIONS = '-o vers=4.2,sec=krb5p,context="system_u:object_r:CnryNfs_t:s0"'
FC_WWN = '50060e80cafef00d'

#: ``connection_info`` by volume driver, as Cinder returns it (JSON text,
#: as a BlockDeviceMapping holds it).
CONNECTION_INFO: Dict[str, str] = {name: json.dumps(info) for name, info in {
    'rbd': {'driver_volume_type': 'rbd', 'data': {
        'name': 'volumes/volume-0d3a8e52', 'hosts': ['10.0.0.21'],
        'ports': ['6789'], 'cluster_name': 'ceph', 'auth_enabled': True,
        'auth_username': RBD_USER, 'secret_type': 'ceph',
        'secret_uuid': RBD_SECRET_UUID, 'keyring': RBD_KEYRING,
        'volume_id': '0d3a8e52', 'discard': True}},
    'iscsi': {'driver_volume_type': 'iscsi', 'data': {
        'target_discovered': False, 'target_portal': '10.0.0.22:3260',
        'target_iqn': 'iqn.2010-10.org.openstack:volume-7c21',
        'target_lun': 1, 'volume_id': '7c21', 'auth_method': 'CHAP',
        'auth_username': 'chapuser', 'auth_password': CHAP_PASSWORD,
        'discovery_auth_method': 'CHAP',
        'discovery_auth_username': 'discoveryuser',
        'discovery_auth_password': DISCOVERY_PASSWORD}},
    'nfs': {'driver_volume_type': 'nfs', 'data': {
        'export': '10.0.0.23:/srv/cinder', 'name': 'volume-9f0e',
        'options': NFS_OPTIONS, 'format': 'raw'}},
    'fibre_channel': {'driver_volume_type': 'fibre_channel', 'data': {
        'target_discovered': False, 'target_lun': 1,
        'target_wwn': [FC_WWN],
        'initiator_target_map': {'10000090fa0d6754': [FC_WWN]}}},
}.items()}

#: What no byte written may hold, by name.
CANARIES: Dict[str, str] = {
    'admin_password': ADMIN_PASSWORD,
    'user_data': USER_DATA,
    'user_data_plain': 'CnryUserDataPlain',
    'key_data': 'CnrySshKey',
    'injected_file': INJECTED_FILE,
    'injected_file_plain': 'CnryInjectedFile',
    'auth_token': 'CnryKeystoneToken',
    'rbd_keyring': 'CnryRbdKeyring',
    'rbd_auth_username': 'CnryRbdUser',
    'rbd_secret_uuid': RBD_SECRET_UUID,
    'iscsi_auth_password': CHAP_PASSWORD,
    'iscsi_discovery_auth_password': DISCOVERY_PASSWORD,
    'nfs_options': 'CnryNfs_t',
    'fc_wwn': FC_WWN,
}


def found_in(data: Any, among: Mapping[str, str] = CANARIES
             ) -> Dict[str, str]:
    """The canaries of ``among`` that ``data`` (text or bytes) holds:
    name -> canary."""
    text = (data.decode('utf-8', 'replace')
            if isinstance(data, (bytes, bytearray)) else str(data))
    return {name: canary for name, canary in among.items()
            if canary in text}
