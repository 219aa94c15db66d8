"""Floating IPs from a real Neutron 28 (2026.1), merged with Nova's
notifications, end to end: Neutron's own REST API changes floating IPs
and ports; its notifications and Nova 34's (its samples, made about the
same instances) reach ``novahooks listen`` over a real RabbitMQ; DNS
records land on a real BIND, netinfo's events in SQLite.

Instance 1 is known to Nova before Neutron's events; instance 2's floating
IP is associated before Nova's ``create.end`` about it is sent."""

import pathlib
from typing import Any, Dict, List, Set
import uuid as uuid_module

from nova_tier.neutron.server import NeutronServer
from novahooks_core import config
from novahooks_core.testing.samples import notification
from tests.dns.conftest import BindServer
from tests.listen.conftest import Publisher, Running, rows, wait_until

PROJECT = 'a1b2c3d4e5f60718293a4b5c6d7e8f90'
ONE = '11111111-2222-4333-8444-000000000001'
TWO = '11111111-2222-4333-8444-000000000002'


def floating(bind: BindServer, host: str) -> Set[str]:
    return bind.query('%s-public.cloud.internal.' % host, 'A')


def neutron_on(path: pathlib.Path) -> None:
    """The test's listener configuration with Neutron's notifications on,
    and floating records in DNS."""
    text = path.read_text().replace(
        '[dns]\n', '[dns]\nfloating_template = {hostname}-public\n', 1)
    path.write_text(text + '\n[listen]\nneutron = true\n'
                    'neutron_pool = novahooks-neutron-%s\n'
                    % uuid_module.uuid4().hex[:8])
    config.reset()
    config.load(str(path))


def boot(samples_dir: pathlib.Path, publisher: Publisher, uuid: str,
         name: str, port: Dict[str, Any]) -> None:
    publisher.send(notification(
        samples_dir, 'instance-create-end', uuid, hostname=name,
        ips=[(port['id'], port['mac_address'],
              port['fixed_ips'][0]['ip_address'], 4)]))


def history(state: pathlib.Path) -> List[Any]:
    return rows(state, 'netinfo.sqlite', 'select uuid, kind from '
                'netinfo_events where kind like \'floating%\' order by id')


def test_floating_ips_of_a_real_neutron_follow_in_dns_and_netinfo(
        neutron_server: NeutronServer, samples_dir: pathlib.Path,
        publisher: Publisher, running: Any, bind: BindServer,
        listen_conf: pathlib.Path, tmp_path: pathlib.Path) -> None:
    neutron_on(listen_conf)
    listener: Running = running()
    state = tmp_path / 'state'
    server = neutron_server
    ids = server.topology(PROJECT)
    one = server.port(PROJECT, ids['internal_network_id'], ONE)
    two = server.port(PROJECT, ids['internal_network_id'], TWO)
    boot(samples_dir, publisher, ONE, 'vm-one', one)
    wait_until(lambda: bind.query('vm-one.cloud.internal.', 'A'),
               what='instance one booted')

    fip = server.floating_ip(PROJECT, ids['external_network_id'])
    address = fip['floating_ip_address']
    server.associate(fip['id'], one['id'])
    wait_until(lambda: floating(bind, 'vm-one') == {address},
               what='association with one')

    # Two: Neutron first; kept until Nova tells of the instance.
    server.associate(fip['id'], two['id'])
    wait_until(lambda: not floating(bind, 'vm-one'), what='moved off one')
    wait_until(lambda: listener.stats().get('pending', 0) >= 1,
               what='kept for an instance Nova has not told of')
    assert floating(bind, 'vm-two') == set()
    boot(samples_dir, publisher, TWO, 'vm-two', two)
    wait_until(lambda: floating(bind, 'vm-two') == {address},
               what='applied when two appears')

    server.disassociate(fip['id'])
    wait_until(lambda: not floating(bind, 'vm-two'), what='disassociation')
    server.associate(fip['id'], one['id'])
    wait_until(lambda: floating(bind, 'vm-one') == {address},
               what='association again')
    server.delete_port(one['id'])  # Neutron sends no floating-IP event
    wait_until(lambda: not floating(bind, 'vm-one'), what='port deleted')
    server.delete_floating_ip(fip['id'])
    wait_until(lambda: listener.stats().get('floatingip.delete.end'),
               what='floating IP deleted')
    assert floating(bind, 'vm-one') == floating(bind, 'vm-two') == set()
    # Nova's own records never moved.
    assert bind.query('vm-two.cloud.internal.', 'A') == {
        two['fixed_ips'][0]['ip_address']}
    assert history(state) == [
        (ONE, 'floating_ip_associated'), (ONE, 'floating_ip_disassociated'),
        (TWO, 'floating_ip_associated'), (TWO, 'floating_ip_disassociated'),
        (ONE, 'floating_ip_associated'), (ONE, 'floating_ip_disassociated')]
    stats = listener.stats()
    assert stats.get('failed', 0) == 0 and stats.get('parked', 0) == 0
    assert not (state / 'listen-failed.jsonl').exists()
