"""The DNS plugin end to end against real BIND, Knot and PowerDNS servers:
records checked by real queries, the fault matrix, and a crash between
outbox and send."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
from typing import List, Optional, Tuple

import pytest

from novahooks_core.testing import NovaRunner, factories, run_lifecycle
from novahooks_dns import service as dns_service
from tests.dns.conftest import (
    FORWARD_ZONE,
    REFUSED_ZONE,
    DnsServer,
    without_background_sender,
    write_conf,
)

V4 = '10.0.0.%d'


def configure(server: DnsServer, tmp_path: pathlib.Path, dns: str = '',
              secret: Optional[str] = None) -> pathlib.Path:
    """The rfc2136 configuration plus ``[dns]`` lines; a fresh service."""
    path = pathlib.Path(os.environ['NOVAHOOKS_CONFIG'])
    write_conf(path, server, tmp_path / 'state', secret=secret)
    # A repeated section overrides what write_conf put in the first one.
    path.write_text(path.read_text() + '\n[dns]\nretry_initial_seconds = '
                    '0.01\nretry_max_seconds = 0.02\n' + dns)
    write_conf_reload(path)
    return path


def write_conf_reload(path: pathlib.Path) -> None:
    from novahooks_core import config
    config.reset()
    config.load(str(path))
    dns_service.reset()


def boot(runner: NovaRunner, name: str, *vifs: dict) -> object:
    inst = factories.instance(state='active', host='c1', hostname=name,
                              network=factories.network_info(*vifs))
    args, _ = factories.build_instance_args(inst)
    assert runner.call('build_instance', lambda *a: 'active', *args) \
        == 'active'
    return inst


def renetwork(runner: NovaRunner, inst: object, *vifs: dict) -> None:
    args, kwargs = factories.instance_network_info_args(
        inst, factories.network_info(*vifs))
    runner.call('instance_network_info', lambda *a, **k: None, *args,
                **kwargs)


def fqdn(name: str) -> str:
    return '%s.%s' % (name, FORWARD_ZONE)


def test_lifecycle_publishes_and_removes_everything(
        server: DnsServer, tmp_path: pathlib.Path) -> None:
    configure(server, tmp_path)
    runner = NovaRunner()  # installed entry points, Nova's semantics
    before = server.update_count()
    instances = run_lifecycle(runner, count=2)
    assert instances[0].hostname == 'web-1'
    outcomes = [(r.handler, r.outcome) for r in runner.runs
                if r.handler.startswith('dns:')]
    assert outcomes and {o for _, o in outcomes} == {'ok'}
    heals = [r.summary for r in runner.runs
             if r.handler == 'dns:instance_network_info:post']
    assert heals[1] == 'unchanged' and heals[3] == 'unchanged'
    # allocation: 3 zones (forward, v4, v6) per instance; deallocation: 3.
    assert server.update_count() - before == 12
    for zone in server.zones:
        assert server.zone_records(zone) == set(), zone


def test_records_are_real_and_an_unchanged_heal_sends_nothing(
        server: DnsServer, tmp_path: pathlib.Path) -> None:
    configure(server, tmp_path)
    runner = NovaRunner()
    inst = boot(runner, 'web', factories.vif(V4 % 5, ipv6='fd00:10::5'))
    assert server.query(fqdn('web'), 'A') == {V4 % 5}
    assert server.query(fqdn('web'), 'AAAA') == {'fd00:10::5'}
    assert server.query('5.0.0.10.in-addr.arpa.', 'PTR') == {fqdn('web')}
    assert server.query('5.0.0.0.' + '0.' * 20 + '0.1.0.0.0.0.d.f.ip6.arpa.',
                      'PTR') == {fqdn('web')}
    before = server.update_count()
    for _ in range(5):  # the periodic heal, every minute
        args, kwargs = factories.instance_network_info_args(inst)
        runner.call('instance_network_info', lambda *a, **k: None, *args,
                    **kwargs)
    assert server.update_count() == before


def test_several_nics_and_floating_ips_follow_changes(
        server: DnsServer, tmp_path: pathlib.Path) -> None:
    configure(server, tmp_path, dns='floating_template = {hostname}-public\n')
    runner = NovaRunner()
    inst = boot(runner, 'db', factories.vif(V4 % 7, port_id='p1'),
                factories.vif(V4 % 8, port_id='p2', network_label='b'))
    assert server.query(fqdn('db'), 'A') == {V4 % 7, V4 % 8}
    # associate a floating IP
    renetwork(runner, inst, factories.vif(V4 % 7, port_id='p1',
                                          floating=['172.24.4.20']),
              factories.vif(V4 % 8, port_id='p2', network_label='b'))
    assert server.query(fqdn('db-public'), 'A') == {'172.24.4.20'}
    assert server.query('20.4.24.172.in-addr.arpa.', 'PTR') == {
        fqdn('db-public')}
    # move it to the other NIC (same address): nothing changes in DNS
    before = server.update_count()
    renetwork(runner, inst, factories.vif(V4 % 7, port_id='p1'),
              factories.vif(V4 % 8, port_id='p2', network_label='b',
                            floating=['172.24.4.20']))
    assert server.update_count() == before
    # replace it by another floating IP, then detach the second NIC
    renetwork(runner, inst, factories.vif(V4 % 7, port_id='p1',
                                          floating=['172.24.4.21']))
    assert server.query(fqdn('db-public'), 'A') == {'172.24.4.21'}
    assert server.query('20.4.24.172.in-addr.arpa.', 'PTR') == set()
    assert server.query(fqdn('db'), 'A') == {V4 % 7}
    assert server.query('8.0.0.10.in-addr.arpa.', 'PTR') == set()


def _fault_then_recover(server: DnsServer, tmp_path: pathlib.Path,
                        break_it: str) -> None:
    """Boot during a fault: the boot is unharmed and the change pending;
    after recovery and a flush the zone is exactly right."""
    if break_it == 'wrong key':
        configure(server, tmp_path,
                  secret='AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=')
    elif break_it == 'zone not served':
        configure(server, tmp_path, dns='zone = nosuch.internal.\n')
    elif break_it == 'refused':
        configure(server, tmp_path, dns='zone = %s\n' % REFUSED_ZONE)
    else:
        configure(server, tmp_path)
        server.stop()
    runner = NovaRunner()
    inst = boot(runner, 'app', factories.vif(V4 % 9))
    build = [r for r in runner.runs if r.handler == 'dns:build_instance:post']
    assert build[0].outcome == 'ok' and 'pending' in build[0].summary
    service = dns_service.service()
    assert service.sender.has_pending()
    without_background_sender()  # the flush below must not race it
    # recovery
    path = configure(server, tmp_path) if break_it != 'server stopped' else \
        pathlib.Path(os.environ['NOVAHOOKS_CONFIG'])
    if break_it == 'server stopped':
        server.start()
    write_conf_reload(path)
    service = dns_service.service()
    if break_it in ('zone not served', 'refused'):
        # The changes were queued for the zone then configured: they can
        # never apply; the next network refresh queues the right ones.
        renetwork(runner, inst, factories.vif(V4 % 9))
    service.sender.flush(force=True)  # as "novahooks dns flush" does
    assert server.query(fqdn('app'), 'A') == {V4 % 9}
    assert server.query('9.0.0.10.in-addr.arpa.', 'PTR') == {fqdn('app')}
    assert not service.sender.has_pending()  # nothing left over


@pytest.mark.parametrize('fault', ['server stopped', 'wrong key',
                                   'zone not served', 'refused'])
def test_fault_matrix(server: DnsServer, tmp_path: pathlib.Path,
                      fault: str) -> None:
    _fault_then_recover(server, tmp_path, fault)


def test_server_down_mid_lifecycle_nothing_lost_or_doubled(
        server: DnsServer, tmp_path: pathlib.Path) -> None:
    configure(server, tmp_path)
    runner = NovaRunner()
    inst = boot(runner, 'mid', factories.vif(V4 % 11, ipv6='fd00:10::11'))
    server.stop()
    renetwork(runner, inst, factories.vif(V4 % 12))   # changed while down
    renetwork(runner, inst, factories.vif(V4 % 12))   # and healed
    server.start()
    without_background_sender()  # the flush below must not race it
    service = dns_service.service()
    service.sender.flush(force=True)
    assert server.query(fqdn('mid'), 'A') == {V4 % 12}
    assert server.query(fqdn('mid'), 'AAAA') == set()
    assert server.query('11.0.0.10.in-addr.arpa.', 'PTR') == set()
    assert server.query('12.0.0.10.in-addr.arpa.', 'PTR') == {fqdn('mid')}
    assert not service.sender.has_pending()


def test_a_process_killed_after_the_outbox_write_loses_nothing(
        server: DnsServer, tmp_path: pathlib.Path) -> None:
    path = configure(server, tmp_path, dns='send_budget_ms = 0\n')
    script = textwrap.dedent('''
        import os, signal
        from novahooks_core.testing import NovaRunner, factories
        from novahooks_dns import service
        service.service().sender.ensure_worker = lambda now=False: None
        inst = factories.instance(state='active', host='c1',
                                  hostname='killed',
                                  network=factories.network_info(
                                      factories.vif('10.0.0.13')))
        args, _ = factories.build_instance_args(inst)
        NovaRunner().call('build_instance', lambda *a: 'active', *args)
        os.kill(os.getpid(), signal.SIGKILL)
    ''')
    env = dict(os.environ, NOVAHOOKS_CONFIG=str(path))
    proc = subprocess.run([sys.executable, '-c', script], env=env,
                          timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert server.query(fqdn('killed'), 'A') == set()
    result = subprocess.run(
        [sys.executable, '-m', 'novahooks_core.cli.app', 'dns', 'flush',
         '-f', 'json'], env=env, capture_output=True, text=True,
        timeout=120)
    assert result.returncode == 0, result.stderr
    assert server.query(fqdn('killed'), 'A') == {'10.0.0.13'}
    assert server.query('13.0.0.10.in-addr.arpa.', 'PTR') == {fqdn('killed')}


def test_cli_check_and_records(server: DnsServer, tmp_path: pathlib.Path
                               ) -> None:
    path = configure(server, tmp_path)
    boot(NovaRunner(), 'cli', factories.vif(V4 % 14))
    env = dict(os.environ, NOVAHOOKS_CONFIG=str(path))

    def cli(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, '-m', 'novahooks_core.cli.app', *argv],
            env=env, capture_output=True, text=True, timeout=120)

    checked = cli('dns', 'check', '-f', 'value')
    assert checked.returncode == 0, checked.stdout + checked.stderr
    records = cli('dns', 'records', '-f', 'value').stdout
    assert V4 % 14 in records and 'cli.cloud.internal.' in records
    whole = cli('check', '-f', 'value')
    assert whole.returncode == 0, whole.stdout
    assert server.key_secret not in checked.stdout + whole.stdout
    write_conf(path, server, tmp_path / 'state',
               secret='AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=')
    bad = cli('dns', 'check', '-f', 'value')
    assert bad.returncode == 1
    lines: List[str] = bad.stdout.splitlines()
    assert any('NO' in line for line in lines)


@pytest.mark.parametrize('fault', ['wrong secret', 'zone not served'])
def test_cli_shows_the_servers_answer_and_recovers(
        server: DnsServer, tmp_path: pathlib.Path, fault: str) -> None:
    """``dns pending``, ``dns flush`` and ``dns check`` show what this
    server answered (never a parsing error), exit 1, and keep the change
    until the configuration is fixed."""
    if fault == 'wrong secret':
        path = configure(server, tmp_path,
                         secret='AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=')
        sent = checked = server.reports['wrong secret']
    else:
        path = configure(server, tmp_path, dns='zone = nosuch.internal.\n')
        sent, checked = 'server answered NOTAUTH', 'SOA query answered'
    boot(NovaRunner(), 'shown', factories.vif(V4 % 15))
    without_background_sender()  # the operator's commands run alone
    env = dict(os.environ, NOVAHOOKS_CONFIG=str(path))

    def cli(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, '-m', 'novahooks_core.cli.app', *argv,
             '-f', 'value'],
            env=env, capture_output=True, text=True, timeout=120)

    for argv, code, expected in ((('dns', 'flush'), 1, sent),
                                 (('dns', 'pending'), 0, sent),
                                 (('dns', 'check'), 1, checked)):
        done = cli(*argv)
        shown = done.stdout + done.stderr
        assert done.returncode == code, (argv, shown)
        assert expected in shown, (argv, shown)
        assert 'requires a TSIG' not in shown, (argv, shown)
        assert server.key_secret not in shown
    if fault == 'zone not served':
        return  # queued for a zone never served: see test_fault_matrix
    assert fqdn('shown') in cli('dns', 'pending').stdout
    env['NOVAHOOKS_CONFIG'] = str(configure(server, tmp_path))
    done = cli('dns', 'flush')
    assert done.returncode == 0, done.stdout + done.stderr
    assert server.query(fqdn('shown'), 'A') == {V4 % 15}
    assert fqdn('shown') not in cli('dns', 'pending').stdout


def test_reconcile_by_zone_transfer_reports_and_repairs(
        server: DnsServer, tmp_path: pathlib.Path) -> None:
    """``dns reconcile`` reads the zones by TSIG-signed AXFR from each
    server: drift found, fixed with ``--fix``, then only what novahooks
    does not manage is left."""
    path = configure(server, tmp_path)
    alive = boot(NovaRunner(), 'alive', factories.vif(V4 % 21))
    boot(NovaRunner(), 'gone', factories.vif(V4 % 22))
    # Someone removed a record by hand and added one; 'gone' was deleted
    # while its compute host was down (no hook ever fired).
    update = server.update(FORWARD_ZONE)
    update.delete(fqdn('alive'), 'A')
    update.add(fqdn('printer'), 300, 'A', '10.0.0.99')
    assert server.send(update).rcode() == 0
    servers = tmp_path / 'servers.json'
    servers.write_text(json.dumps([{'ID': alive.uuid, 'Name': 'alive'}]))
    env = dict(os.environ, NOVAHOOKS_CONFIG=str(path))

    def reconcile(*argv: str) -> Tuple[int, List[Tuple[str, str, str]]]:
        done = subprocess.run(
            [sys.executable, '-m', 'novahooks_core.cli.app', 'dns',
             'reconcile', '--servers', str(servers), *argv, '-f', 'json'],
            env=env, capture_output=True, text=True, timeout=120)
        assert server.key_secret not in done.stdout + done.stderr
        rows = json.loads(done.stdout or '[]')
        return done.returncode, sorted(
            (r['Drift'], r['Name'], r['Value']) for r in rows
            if r['Zone'] == FORWARD_ZONE)

    code, rows = reconcile()
    assert code == 1, rows  # drift found, not fixed
    assert rows == [('missing', fqdn('alive'), V4 % 21),
                    ('stale', fqdn('gone'), V4 % 22),
                    ('unmanaged', fqdn('printer'), '10.0.0.99')]
    assert server.query(fqdn('gone'), 'A') == {V4 % 22}
    code, _ = reconcile('--fix')
    assert code == 0
    assert server.query(fqdn('alive'), 'A') == {V4 % 21}
    assert server.query(fqdn('gone'), 'A') == set()
    assert server.query('22.0.0.10.in-addr.arpa.', 'PTR') == set()
    code, rows = reconcile()
    assert rows == [('unmanaged', fqdn('printer'), '10.0.0.99')]
