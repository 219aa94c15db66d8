"""Neutron's floating IPs merged with Nova's notifications, through the
listener's endpoint with the real plugins (DNS on a hosts file with a
floating template, netinfo and the order guard on SQLite or PostgreSQL).

Nova's side: Nova 34's own samples made about our instances. Neutron's
side: payloads shaped as Neutron 28's API controller sends them (checked
against a real Neutron's in tests/listen/data/neutron-scenario.jsonl and
in nova_tier/neutron, which drives a real Neutron)."""

import datetime
import itertools
import json
import pathlib
import random
from typing import Any, Dict, List, Optional, Tuple
import uuid as uuid_module

import pytest

from novahooks_core.models import IpAddress, NetworkInfo, Subnet, Vif
from novahooks_core.notify import neutron
from novahooks_core.notify.endpoint import NotificationEndpoint
from novahooks_core.notify.facts import Verdict
from novahooks_core.notify.message import Message
from tests.conftest import WriteConfig, cli
from tests.listen.test_order import (  # noqa: F401
    Story,
    _fresh_services,
    configure,
    end_state,
    endpoint,
    feed,
    history,
)
from tests.pg import PostgresServer, postgres  # noqa: F401

X = '00000000-0000-0000-0002-000000000001'
Y = '00000000-0000-0000-0002-000000000002'
PORT_X = ('00000000-0000-0000-0003-000000000001', 'fa:16:3e:00:00:01',
          '10.0.0.11', 4)
PORT_Y = ('00000000-0000-0000-0003-000000000002', 'fa:16:3e:00:00:02',
          '10.0.0.12', 4)
FIP = '00000000-0000-0000-0004-000000000001'
ADDRESS = '203.0.113.10'


class Neutron:
    """Floating-IP and port notifications as Neutron's API controller
    sends them (``{"floatingip": ...}``, deletions with ``*_id`` and the
    resource as it was), each with the next revision and time."""

    def __init__(self) -> None:
        self.clock = datetime.datetime(2026, 11, 30, 12, 0, 0)
        self.revisions: Dict[str, int] = {}
        self.ports: Dict[str, Dict[str, Any]] = {}

    def _stamp(self, ident: str) -> Dict[str, Any]:
        self.clock += datetime.timedelta(seconds=1)
        self.revisions[ident] = self.revisions.get(ident, -1) + 1
        return {'revision_number': self.revisions[ident],
                'updated_at': self.clock.strftime('%Y-%m-%dT%H:%M:%SZ')}

    def message(self, event_type: str, payload: Dict[str, Any]
                ) -> Dict[str, Any]:
        return {'event_type': event_type, 'payload': payload,
                'publisher_id': 'network.controller', 'metadata': {
                    'message_id': str(uuid_module.uuid4()),
                    'timestamp': self.clock.isoformat()}}

    def port(self, port: Any, device_id: str,
             event: str = 'port.update.end') -> Dict[str, Any]:
        body = {'id': port[0], 'device_id': device_id,
                'device_owner': 'compute:nova' if device_id else '',
                'mac_address': port[1], 'status': 'DOWN',
                'fixed_ips': [{'subnet_id': 's', 'ip_address': port[2]}],
                'binding:profile': {'secret-ish': 'not kept'},
                **self._stamp(port[0])}
        self.ports[port[0]] = body
        if event == 'port.delete.end':
            return self.message(event, {'port_id': port[0], 'port': body})
        return self.message(event, {'port': body})

    def floating(self, event: str, port: Any = None,
                 ident: str = FIP, address: str = ADDRESS
                 ) -> Dict[str, Any]:
        body: Dict[str, Any] = {
            'id': ident, 'floating_ip_address': address,
            'floating_network_id': 'ext', 'router_id': 'r',
            'project_id': 'p', 'tenant_id': 'p', 'status': 'DOWN',
            'port_id': None, 'fixed_ip_address': None, 'port_details': None,
            **self._stamp(ident)}
        if port is not None:
            device = self.ports.get(port[0], {}).get('device_id', '')
            body.update(port_id=port[0], fixed_ip_address=port[2],
                        port_details={'device_id': device,
                                      'device_owner': 'compute:nova',
                                      'mac_address': port[1],
                                      'network_id': 'n', 'status': 'DOWN'})
        if event == 'floatingip.delete.end':
            return self.message(event, {'floatingip_id': ident,
                                        'floatingip': body})
        return self.message(event, {'floatingip': body})


def settings(write_config: WriteConfig, state: pathlib.Path,
             url: Optional[str] = None) -> None:
    configure(write_config, state, url, '[listen]\nneutron = true\n')


def start(samples_dir: pathlib.Path, write_config: WriteConfig,
          tmp_path: pathlib.Path
          ) -> Tuple[pathlib.Path, Story, Neutron, NotificationEndpoint]:
    """A state dir with Neutron's notifications on, Nova's and Neutron's
    story tellers, and the listener's endpoint."""
    state = tmp_path / 'state'
    settings(write_config, state)
    return state, Story(samples_dir), Neutron(), endpoint()


def floating_hosts(state: pathlib.Path) -> List[str]:
    return [line for line in end_state(None, state)['hosts']
            if '-public' in line]


def floating_history(state: pathlib.Path, url: Optional[str] = None
                     ) -> List[Any]:
    return [row for row in history(url, state) if 'floating' in row[1]]


def boot(story: Story, uuid: str, name: str, port: Any) -> None:
    story.say('instance-create-end', uuid, name, [port])


def test_neutron_facts_are_read_and_ordered() -> None:
    """The mapping and the order decision: pure functions."""
    bus = Neutron()
    bus.port(PORT_X, X)
    associated = bus.floating('floatingip.update.end', PORT_X)
    fact = neutron.read(associated['event_type'], associated['payload'])
    assert fact is not None and fact.instance == X
    assert (fact.address, fact.port_id, fact.fixed_ip, fact.revision) == (
        ADDRESS, PORT_X[0], '10.0.0.11', 0)
    later = neutron.read('floatingip.update.end', bus.floating(
        'floatingip.update.end')['payload'])
    assert later is not None and later.instance is None
    assert later.port_id is None and later.fixed_ip is None
    assert neutron.verdict(None, fact) is Verdict.RUN
    assert neutron.verdict(fact, later) is Verdict.RUN
    assert neutron.verdict(later, fact) is Verdict.STALE
    assert neutron.verdict(fact, fact) is Verdict.DUPLICATE
    gone = neutron.read('floatingip.delete.end', bus.floating(
        'floatingip.delete.end')['payload'])
    assert gone is not None and gone.deleted
    assert neutron.verdict(gone, later) is Verdict.DELETED
    assert neutron.verdict(gone, gone) is Verdict.DUPLICATE
    # The deletion repeats the last revision: it still wins.
    same = neutron.Fact('floatingip', FIP, 7, None, deleted=True,
                        address=ADDRESS)
    assert neutron.verdict(neutron.Fact('floatingip', FIP, 7, None,
                                        address=ADDRESS), same) is Verdict.RUN
    assert neutron.instances_of(fact, later) == (X,)
    for bad in ({'floatingip': 'x'}, [], {'floatingip': {'id': 'f'}},
                {'floatingip': {'id': 'f', 'floating_ip_address': 'nope'}},
                {'floatingip': {'id': 'f', 'floating_ip_address': ADDRESS,
                                'revision_number': 'x'}}):
        with pytest.raises(neutron.BadInput):
            neutron.read('floatingip.update.end', bad)
    assert neutron.read('network.create.end', {}) is None
    # A network port (a router's) is no instance's.
    router_port = neutron.read('port.update.end', {'port': {
        'id': 'p', 'device_id': 'r', 'device_owner': 'network:router'}})
    assert router_port is not None and router_port.instance is None


def test_overlay_puts_floating_ips_on_their_fixed_ip() -> None:
    network = NetworkInfo(vifs=(
        Vif(id='a', subnets=(Subnet(version=4, ips=(
            IpAddress('10.0.0.1', 4), IpAddress('10.0.0.2', 4))),
            Subnet(version=6, ips=(IpAddress('fd00::1', 6),)))),
        Vif(id='b', subnets=(Subnet(version=4, ips=(
            IpAddress('10.0.1.1', 4, floating_ips=('198.51.100.9',)),)),))),
        unknown=frozenset({'ip.floating_ips', 'vif.type'}))

    def fip(address: str, port: str, fixed: Optional[str]) -> neutron.Fact:
        return neutron.Fact('floatingip', address, 1, None, address=address,
                            port_id=port, fixed_ip=fixed)
    found = neutron.overlay(network, [
        fip('203.0.113.2', 'a', '10.0.0.2'),
        fip('203.0.113.1', 'a', '10.9.9.9'),  # not there: the first IPv4
        fip('2001:db8::1', 'a', None),
        fip('203.0.113.3', 'elsewhere', '10.0.0.1'),
        neutron.Fact('floatingip', 'gone', 1, None, deleted=True,
                     address='203.0.113.4', port_id='a')])
    assert [[ip.floating_ips for ip in vif.fixed_ips]
            for vif in found.vifs] == [
        [('203.0.113.1',), ('203.0.113.2',), ('2001:db8::1',)], [()]]
    assert found.unknown == {'vif.type'}


def test_floating_ip_lifecycle_follows_in_dns_and_netinfo(
        samples_dir: pathlib.Path, write_config: WriteConfig,
        tmp_path: pathlib.Path) -> None:
    state, story, bus, target = start(samples_dir, write_config, tmp_path)
    boot(story, X, 'vm-x', PORT_X)
    boot(story, Y, 'vm-y', PORT_Y)
    for message in story.messages:
        feed(target, message)
    feed(target, bus.port(PORT_X, X))
    feed(target, bus.port(PORT_Y, Y))
    feed(target, bus.floating('floatingip.create.end'))
    assert floating_hosts(state) == []
    feed(target, bus.floating('floatingip.update.end', PORT_X))
    assert floating_hosts(state) == ['%s vm-x-public.cloud.internal' % ADDRESS]
    feed(target, bus.floating('floatingip.update.end', PORT_Y))
    assert floating_hosts(state) == ['%s vm-y-public.cloud.internal' % ADDRESS]
    feed(target, bus.floating('floatingip.update.end'))
    assert floating_hosts(state) == []
    feed(target, bus.floating('floatingip.update.end', PORT_X))
    assert floating_hosts(state) == ['%s vm-x-public.cloud.internal' % ADDRESS]
    feed(target, bus.port(PORT_X, X, 'port.delete.end'))  # no FIP event
    assert floating_hosts(state) == []
    feed(target, bus.floating('floatingip.delete.end'))
    assert floating_hosts(state) == []
    assert floating_history(state) == sorted([
        (X, 'floating_ip_associated', PORT_X[0]),
        (X, 'floating_ip_disassociated', PORT_X[0]),
        (Y, 'floating_ip_associated', PORT_Y[0]),
        (Y, 'floating_ip_disassociated', PORT_Y[0]),
        (X, 'floating_ip_associated', PORT_X[0]),
        (X, 'floating_ip_disassociated', PORT_X[0])])
    found = end_state(None, state)
    assert found['failed'] == [] and found['parked'] == []
    # Nova's own records were never touched by Neutron's events.
    assert '10.0.0.11 vm-x.cloud.internal' in found['hosts']


def test_a_nova_notification_keeps_the_floating_ip_neutron_gave(
        samples_dir: pathlib.Path, write_config: WriteConfig,
        tmp_path: pathlib.Path) -> None:
    """Nova's notifications carry no floating IPs: an update after the
    association neither removes its record nor repeats its event."""
    state, story, bus, target = start(samples_dir, write_config, tmp_path)
    boot(story, X, 'vm-x', PORT_X)
    feed(target, story.messages[-1])
    feed(target, bus.port(PORT_X, X))
    feed(target, bus.floating('floatingip.update.end', PORT_X))
    feed(target, story.say('instance-update', X, 'vm-x', [PORT_X]))
    feed(target, story.say('instance-update', X, 'vm-x-renamed', [PORT_X]))
    assert floating_hosts(state) == [
        '%s vm-x-renamed-public.cloud.internal' % ADDRESS]
    assert floating_history(state) == [
        (X, 'floating_ip_associated', PORT_X[0])]


def test_neutron_before_nova_is_kept_and_applied_when_the_instance_appears(
        samples_dir: pathlib.Path, write_config: WriteConfig,
        tmp_path: pathlib.Path) -> None:
    state, story, bus, target = start(samples_dir, write_config, tmp_path)
    feed(target, bus.port(PORT_X, X))
    feed(target, bus.floating('floatingip.create.end', PORT_X))
    assert floating_hosts(state) == []
    assert target.stats.snapshot().get('pending', 0) >= 1
    boot(story, X, 'vm-x', PORT_X)
    feed(target, story.messages[-1])
    assert floating_hosts(state) == ['%s vm-x-public.cloud.internal' % ADDRESS]
    assert floating_history(state) == [
        (X, 'floating_ip_associated', PORT_X[0])]


@pytest.mark.parametrize('backend', ['sqlite', 'postgresql'])
def test_redelivered_and_reordered_neutron_events_end_in_the_last_state(
        backend: str, samples_dir: pathlib.Path, write_config: WriteConfig,
        tmp_path: pathlib.Path, request: pytest.FixtureRequest) -> None:
    """Every order of one story's Neutron messages, with duplicates, and
    Nova's boot anywhere among them, ends as the story does: the floating
    IP on Y; a late association never comes back after the deletion."""
    url = None
    if backend == 'postgresql':
        server: PostgresServer = request.getfixturevalue('postgres')
        server.reset()
        url = server.url
    state = tmp_path / 'state'
    settings(write_config, state, url)
    story, bus = Story(samples_dir), Neutron()
    boot(story, X, 'vm-x', PORT_X)
    boot(story, Y, 'vm-y', PORT_Y)
    second = '00000000-0000-0000-0004-000000000002'
    messages = list(story.messages) + [
        bus.port(PORT_X, X), bus.port(PORT_Y, Y),
        bus.floating('floatingip.create.end'),
        bus.floating('floatingip.update.end', PORT_X),
        bus.floating('floatingip.update.end', PORT_Y),
        bus.floating('floatingip.create.end', PORT_X, second,
                     '203.0.113.20'),
        bus.floating('floatingip.update.end', ident=second,
                     address='203.0.113.20'),
        bus.floating('floatingip.update.end', PORT_X, second,
                     '203.0.113.20'),
        bus.floating('floatingip.delete.end', PORT_X, second,
                     '203.0.113.20')]
    shuffled = messages + random.Random(13).sample(messages, 4)
    random.Random(backend).shuffle(shuffled)
    target = endpoint()
    for message in shuffled:
        feed(target, message)
    found = end_state(url, state)
    public = sorted(row for row in found['dns'] if '-public' in row[1])
    assert public == [(Y, 'vm-y-public.cloud.internal.', 'A', ADDRESS)]
    assert found['failed'] == [] and found['parked'] == []


def test_a_late_neutron_event_does_not_bring_back_a_deleted_instance(
        samples_dir: pathlib.Path, write_config: WriteConfig,
        tmp_path: pathlib.Path) -> None:
    state, story, bus, target = start(samples_dir, write_config, tmp_path)
    boot(story, X, 'vm-x', PORT_X)
    feed(target, story.messages[-1])
    feed(target, story.say('instance-delete-end', X, 'vm-x', [],
                           state='deleted'))
    feed(target, bus.floating('floatingip.update.end', PORT_X))
    found = end_state(None, state)
    assert found['dns'] == [] and found['hosts'] == []
    assert floating_history(state) == []


def test_a_failed_delivery_is_retried_for_the_instance_left_too(
        samples_dir: pathlib.Path, write_config: WriteConfig,
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The floating IP moves from X to Y while X's delivery fails: the
    retry (its fact already kept: a duplicate then) still delivers X's,
    which the fact itself no longer names."""
    state, story, bus, target = start(samples_dir, write_config, tmp_path)
    boot(story, X, 'vm-x', PORT_X)
    boot(story, Y, 'vm-y', PORT_Y)
    for message in story.messages + [bus.port(PORT_X, X),
                                     bus.port(PORT_Y, Y)]:
        feed(target, message)
    feed(target, bus.floating('floatingip.update.end', PORT_X))
    assert floating_hosts(state) == ['%s vm-x-public.cloud.internal' % ADDRESS]
    real = NotificationEndpoint._refresh
    calls = itertools.count()

    def flaky(self: NotificationEndpoint, uuid: str, message: Message) -> Any:
        if uuid == X and next(calls) == 0:
            return ['dns:instance_network_info:post'], []
        return real(self, uuid, message)
    monkeypatch.setattr(NotificationEndpoint, '_refresh', flaky)
    target.retry_delay = 0.0
    feed(target, bus.floating('floatingip.update.end', PORT_Y))
    assert sorted(floating_hosts(state)) == [
        '%s vm-x-public.cloud.internal' % ADDRESS,  # X's failed
        '%s vm-y-public.cloud.internal' % ADDRESS]
    assert len(end_state(None, state)['parked']) == 1
    assert target.retry_due() == 0
    assert floating_hosts(state) == ['%s vm-y-public.cloud.internal' % ADDRESS]
    assert end_state(None, state)['failed'] == []


def test_what_is_kept_of_a_neutron_message_to_retry_it() -> None:
    bus = Neutron()
    message = bus.port(PORT_X, X)
    kept = Message.received({'auth_token': 'secret-token'},
                            message['publisher_id'], message['event_type'],
                            message['payload'], message['metadata']).record()
    assert 'binding:profile' not in kept['payload']['port']
    assert kept['payload']['port']['device_id'] == X
    assert 'secret-token' not in repr(kept)


SCENARIO = pathlib.Path(__file__).parent / 'data' / 'neutron-scenario.jsonl'


def real_neutron() -> List[Dict[str, Any]]:
    """A real Neutron 28's notifications (nova_tier/neutron/capture.py):
    two ports of two instances, a floating IP created, associated with the
    first, moved to the second, disassociated, associated with the first
    again, the first port deleted (no floating-IP event), the floating IP
    deleted, the second port detached."""
    return [json.loads(line) for line in SCENARIO.read_text().splitlines()]


def test_a_real_neutrons_story_through_the_listener_in_both_orders(
        samples_dir: pathlib.Path, write_config: WriteConfig,
        tmp_path: pathlib.Path) -> None:
    """Each step's floating records, Nova's boots first; then the whole
    of Neutron's story before Nova's boots: the end state is the same."""
    captured = real_neutron()
    ports = [m['payload']['port'] for m in captured
             if m['event_type'] == 'port.create.end']
    fip = next(m['payload']['floatingip']['floating_ip_address']
               for m in captured
               if m['event_type'] == 'floatingip.create.end')
    names = {port['device_id']: 'vm-%d' % n
             for n, port in enumerate(ports, 1)}
    story = Story(samples_dir)
    for port in ports:
        boot(story, port['device_id'], names[port['device_id']], (
            port['id'], port['mac_address'],
            port['fixed_ips'][0]['ip_address'], 4))
    expected = {'associate_port_1': 'vm-1', 'reassociate_port_2': 'vm-2',
                'disassociate': None, 'associate_port_1_again': 'vm-1',
                'delete_port_1': None, 'delete_floatingip': None}
    state = tmp_path / 'nova-first'
    settings(write_config, state)
    target = endpoint()
    for message in story.messages:
        feed(target, message)
    for message in captured:
        feed(target, message)
        step = message.get('step')
        if step in expected and message['event_type'].endswith('.end'):
            name = expected[step]
            assert floating_hosts(state) == (
                ['%s %s-public.cloud.internal' % (fip, name)] if name
                else []), step
    nova_first = end_state(None, state)
    assert nova_first['failed'] == [] and nova_first['parked'] == []
    one, two = (port['device_id'] for port in ports)
    assert [row[:2] for row in floating_history(state)] == sorted(
        [(one, 'floating_ip_associated'), (one, 'floating_ip_disassociated')]
        * 2 + [(two, 'floating_ip_associated'),
               (two, 'floating_ip_disassociated')])
    # Neutron's story first, up to the association, then Nova's boots.
    state = tmp_path / 'neutron-first'
    settings(write_config, state)
    target = endpoint()
    upto = next(i for i, m in enumerate(captured)
                if m.get('step') == 'associate_port_1'
                and m['event_type'] == 'floatingip.update.end')
    for message in captured[:upto + 1]:
        feed(target, message)
    assert floating_hosts(state) == []
    for message in story.messages:
        feed(target, message)
    assert floating_hosts(state) == ['%s vm-1-public.cloud.internal' % fip]
    for message in captured[upto + 1:]:
        feed(target, message)
    neutron_first = end_state(None, state)
    assert {k: v for k, v in neutron_first.items() if k != 'hosts'} == {
        k: v for k, v in nova_first.items() if k != 'hosts'}


def test_seeding_the_floating_ips_neutron_has_now(
        samples_dir: pathlib.Path, write_config: WriteConfig,
        tmp_path: pathlib.Path) -> None:
    """``listen seed --floating-ips``: an association made before the
    listener heard Neutron is applied with the instance's next Nova
    notification; a floating IP a notification told of is not overwritten;
    a file that is not a floating-IP list is refused (exit 2)."""
    state, story, bus, target = start(samples_dir, write_config, tmp_path)
    second = '00000000-0000-0000-0004-000000000002'
    feed(target, bus.port(PORT_Y, Y))
    feed(target, bus.floating('floatingip.update.end', PORT_Y, second,
                              '203.0.113.20'))
    listing = tmp_path / 'fips.json'
    listing.write_text(json.dumps([
        {'ID': FIP, 'Floating IP Address': ADDRESS,
         'Fixed IP Address': PORT_X[2], 'Port': PORT_X[0],
         'Floating Network': 'ext', 'Project': 'p', 'Router': 'r',
         'Status': 'ACTIVE', 'Description': '', 'Tags': []},
        {'ID': second, 'Floating IP Address': '203.0.113.20',
         'Fixed IP Address': None, 'Port': None}]))
    code, rows = cli('listen', 'seed', '--floating-ips', str(listing),
                     '-f', 'json')
    assert code == 0
    assert [(r['ID'], r['Action']) for r in rows] == [
        (FIP, 'kept'), (second, 'known (newer)')]
    boot(story, X, 'vm-x', PORT_X)
    boot(story, Y, 'vm-y', PORT_Y)
    for message in story.messages:
        feed(target, message)
    assert sorted(floating_hosts(state)) == [
        '203.0.113.10 vm-x-public.cloud.internal',
        '203.0.113.20 vm-y-public.cloud.internal']
    servers = tmp_path / 'servers.json'
    servers.write_text(json.dumps([{'ID': X, 'Name': 'vm-x'}]))
    code, _ = cli('listen', 'seed', '--floating-ips', str(servers))
    assert code == 2
