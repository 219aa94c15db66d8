"""The DNS plugin when its own database fails, when the configuration
changes under queued work, when reconcile is given the wrong input, and
when instances share records: nothing lost, nothing removed by mistake.

Real components throughout: SQLite on disk locked by another connection,
a real PostgreSQL stopped and started (tools/pg-server.sh), a real BIND
(tools/bind-server.sh), the installed entry points and Nova's runner
semantics.
"""

import contextlib
import io
import json
import multiprocessing
import os
import pathlib
import sqlite3
import time
from typing import Any, Iterator, List, Set

import pytest

from novahooks_core import config
from novahooks_core.cli.app import NovaHooksApp
from novahooks_core.hooks.seen import SEEN
from novahooks_core.state import db, lru
from novahooks_core.testing import NovaRunner, delete_instance, factories
from novahooks_dns import service as dns_service
from novahooks_dns import state
from tests.conftest import WriteConfig, cli
from tests.dns.conftest import (
    FORWARD_ZONE,
    V4_ZONE,
    BindServer,
    build,
    without_background_sender,
    write_conf,
)
from tests.pg import PostgresServer, database_url, postgres  # noqa: F401


def lines(path: pathlib.Path) -> List[str]:
    if not path.exists():
        return []
    return sorted(line for line in path.read_text().splitlines()
                  if not line.startswith('#'))


def summaries(runner: NovaRunner, handler: str) -> List[str]:
    return [str(r.summary) for r in runner.runs if r.handler == handler]


@pytest.fixture
def hosts(write_config: WriteConfig, tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / 'hosts'
    write_config(enabled_plugins='dns', write_budget_ms=300, extra=(
        '[dns]\nzone = cloud.internal.\nretry_initial_seconds = 0.1\n'
        '[dns_hostsfile]\npath = %s\n' % path))
    return path


@contextlib.contextmanager
def sqlite_locked(hosts: pathlib.Path) -> Iterator[None]:
    """The DNS state database locked by another writer (BEGIN
    EXCLUSIVE), as a second process on the host could hold it."""
    dns_service.service().ready()
    blocker = sqlite3.connect(str(hosts.parent / 'state' / 'dns.sqlite'),
                              timeout=0)
    blocker.execute('BEGIN EXCLUSIVE')
    try:
        yield
    finally:
        blocker.rollback()
        blocker.close()


# -- the database unavailable ------------------------------------------------

def test_a_delete_while_sqlite_is_locked_is_spooled_and_replayed_by_flush(
        hosts: pathlib.Path) -> None:
    runner = NovaRunner()
    inst = build(runner, 'victim', '10.0.0.40')
    assert lines(hosts) == ['10.0.0.40 victim.cloud.internal']
    with sqlite_locked(hosts):
        started = time.monotonic()
        delete_instance(runner, inst)
        waited = time.monotonic() - started
        posts = summaries(runner, 'dns:delete_instance:post')
        assert posts == ['database unavailable: spooled']
        # Bounded by [DEFAULT] write_budget_ms (0.3 s) per hook call, not
        # by SQLite's 5 s busy timeout times the attempts.
        assert waited < 3.0
        assert all(r.outcome in ('ok', 'skipped') for r in runner.runs)
    assert lines(hosts) == ['10.0.0.40 victim.cloud.internal']  # not yet
    without_background_sender()  # the operator's flush replays the spool
    code, rows = cli('dns', 'flush', '-f', 'json')
    assert code == 0 and rows[0]['Pending'] == 0
    assert lines(hosts) == []
    assert not (hosts.parent / 'state' / 'dns-spool.jsonl').exists()
    code, rows = cli('dns', 'records', inst.uuid, '-f', 'json')
    assert rows == []


def test_the_background_replay_never_holds_nova_on_a_locked_database(
        hosts: pathlib.Path) -> None:
    """While the database is locked, the background sender keeps trying
    to replay the spool (every 0.1 s here); each of Nova's calls still
    returns within the write budget: the sender's replay must not hold
    the spool's lock for SQLite's 5 s busy timeout."""
    runner = NovaRunner()
    inst = build(runner, 'web', '10.0.0.44')
    with sqlite_locked(hosts):
        delete_instance(runner, build(runner, 'first', '10.0.0.45'))
        time.sleep(0.5)  # the sender is now retrying, replaying first
        slowest = 0.0
        for index in range(4):
            args, kwargs = factories.instance_network_info_args(
                inst, factories.network_info(factories.vif(
                    '10.0.0.%d' % (46 + index))))
            started = time.monotonic()
            runner.call('instance_network_info', lambda *a, **k: None,
                        *args, **kwargs)
            slowest = max(slowest, time.monotonic() - started)
        # write_budget_ms (0.3 s) per call, with room for a loaded host
        assert slowest < 2.0, slowest
        assert dns_service.service().spool.depth() >= 4


def test_spooled_decisions_are_replayed_in_order_by_the_next_hook(
        hosts: pathlib.Path) -> None:
    runner = NovaRunner()
    inst = build(runner, 'web', '10.0.0.41')
    with sqlite_locked(hosts):
        # Re-addressed, then deleted, while the database is locked.
        args, kwargs = factories.instance_network_info_args(
            inst, factories.network_info(factories.vif('10.0.0.42')))
        runner.call('instance_network_info', lambda *a, **k: None, *args,
                    **kwargs)
        delete_instance(runner, inst)
        spool = dns_service.service().spool
        assert spool.depth() == 3  # the move, the deallocation, the delete
    without_background_sender()  # the next hook, not a retry, replays
    other = build(runner, 'db', '10.0.0.43')  # the next hook replays first
    assert lines(hosts) == ['10.0.0.43 db.cloud.internal']
    assert spool.depth() == 0
    code, rows = cli('dns', 'records', '-f', 'json')
    assert [(r['Instance'], r['Value']) for r in rows] == [
        (other.uuid, '10.0.0.43')]


def _rfc2136_with_database(bind: BindServer, tmp_path: pathlib.Path,
                           url: str) -> None:
    path = pathlib.Path(os.environ[config.CONFIG_ENV])
    write_conf(path, bind, tmp_path / 'state')
    path.write_text(path.read_text().replace(
        '[DEFAULT]\n', '[DEFAULT]\nwrite_budget_ms = 300\n') +
        '\n[dns]\ndatabase_url = %s\nretry_initial_seconds = 0.05\n'
        'retry_max_seconds = 0.1\n' % url)
    config.reset()
    config.load(str(path))
    dns_service.reset()
    db.reset()


def test_postgresql_stopped_during_a_boot_and_a_delete_loses_nothing(
        bind: BindServer, postgres: PostgresServer,  # noqa: F811
        tmp_path: pathlib.Path) -> None:
    postgres.reset()
    _rfc2136_with_database(bind, tmp_path, postgres.url)
    runner = NovaRunner()
    old = build(runner, 'old', '10.0.0.50')
    assert bind.query('old.' + FORWARD_ZONE, 'A') == {'10.0.0.50'}
    postgres.stop()
    try:
        new = build(runner, 'new', '10.0.0.51')
        delete_instance(runner, old)
        assert summaries(runner, 'dns:build_instance:post')[-1] == \
            'database unavailable: spooled'
        assert summaries(runner, 'dns:delete_instance:post') == [
            'database unavailable: spooled']
        assert all(r.outcome in ('ok', 'skipped') for r in runner.runs)
    finally:
        postgres.start()
    # Nothing else happens: the background sender replays and sends.
    deadline = time.monotonic() + 30
    want = {('new.' + FORWARD_ZONE, 'A', '10.0.0.51'),
            ('51.0.0.10.in-addr.arpa.', 'PTR', 'new.' + FORWARD_ZONE)}
    while time.monotonic() < deadline:
        found = (bind.zone_records(FORWARD_ZONE)
                 | bind.zone_records(V4_ZONE))
        if found == want:
            break
        time.sleep(0.2)
    assert found == want  # exactly: old gone, new there
    assert dns_service.service().spool.depth() == 0
    code, rows = cli('dns', 'records', '-f', 'json')
    assert {(r['Instance'], r['Value']) for r in rows} == {
        (new.uuid, '10.0.0.51'), (new.uuid, 'new.' + FORWARD_ZONE)}


# -- a zone dropped from the configuration -----------------------------------

def test_changes_for_a_zone_no_longer_configured_are_held_until_discarded(
        bind: BindServer, tmp_path: pathlib.Path,
        caplog: pytest.LogCaptureFixture) -> None:
    path = pathlib.Path(os.environ[config.CONFIG_ENV])
    write_conf(path, bind, tmp_path / 'state')
    runner = NovaRunner()
    inst = build(runner, 'keep', '10.0.0.60')
    bind.stop()  # the delete cannot be sent...
    try:
        delete_instance(runner, inst)
        with dns_service.service().engine.begin() as conn:
            queued = state.pending(conn)
        assert {r.op for r in queued} == {'delete'}
        # ... and meanwhile an operator mistypes the zone.
        path.write_text(path.read_text().replace(
            'zone = %s' % FORWARD_ZONE, 'zone = cloud.internl.'))
        config.reset()
        config.load(str(path))
        dns_service.reset()
        result = dns_service.service().sender.flush(force=True)
        assert result.sent == 0  # the held delete is not sent...
    finally:
        bind.start()
    assert 'are held' in caplog.text and FORWARD_ZONE in caplog.text
    code, rows = cli('dns', 'flush', '-f', 'json')
    assert code == 1 and rows[0]['Pending'] == 1  # ... nor dropped
    code, rows = cli('dns', 'pending', '-f', 'json')
    held = [r for r in rows if r['Zone'] == FORWARD_ZONE]
    assert [r['Op'] for r in held] == ['delete']
    assert held[0]['Note'] == 'held: zone not configured'
    # The zone is configured again: the held delete is sent.
    write_conf(path, bind, tmp_path / 'state')
    dns_service.reset()
    code, rows = cli('dns', 'flush', '-f', 'json')
    assert code == 0
    assert bind.query('keep.' + FORWARD_ZONE, 'A') == set()
    # Or an operator discards held changes on purpose.
    inst = build(runner, 'gone', '10.0.0.61')
    bind.stop()
    try:
        delete_instance(runner, inst)
    finally:
        bind.start()
    path.write_text(path.read_text().replace(
        'zone = %s' % FORWARD_ZONE, 'zone = other.internal.'))
    config.reset()
    config.load(str(path))
    dns_service.reset()
    code, rows = cli('dns', 'discard', '-f', 'json')
    assert code == 2  # nothing selected
    code, rows = cli('dns', 'discard', '--held', '-f', 'json')
    assert code == 0
    assert {(r['Zone'], r['Op'], r['Value']) for r in rows} == {
        (FORWARD_ZONE, 'delete', '10.0.0.61')}
    code, rows = cli('dns', 'pending', '-f', 'json')
    assert [r for r in rows if r['Zone'] == FORWARD_ZONE] == []


# -- reconcile ----------------------------------------------------------------

def _managed(runner: NovaRunner, count: int) -> List[Any]:
    return [build(runner, 'host-%d' % n, '10.0.1.%d' % (n + 1))
            for n in range(count)]


@pytest.mark.parametrize('servers, complaint', [
    ({'servers': []}, 'holds a JSON dict'),
    ([{'Name': 'host-0'}], 'item 0 has no "ID"'),
    (['host-0', 'host-1'], 'item 0 has no "ID"'),
    ('not json', 'is not JSON'),
])
def test_reconcile_refuses_a_file_that_is_not_a_server_list(
        hosts: pathlib.Path, tmp_path: pathlib.Path, servers: Any,
        complaint: str) -> None:
    runner = NovaRunner()
    _managed(runner, 3)
    path = tmp_path / 'servers.json'
    path.write_text(servers if isinstance(servers, str)
                    else json.dumps(servers))
    out_before = lines(hosts)
    stderr = io.StringIO()
    code = NovaHooksApp(stdout=io.StringIO(), stderr=stderr).run(
        ['dns', 'reconcile', '--servers', str(path), '--fix'])
    assert code == 2
    assert str(path) in stderr.getvalue()
    assert complaint in stderr.getvalue()
    assert lines(hosts) == out_before  # nothing removed


def test_reconcile_fix_refuses_to_remove_most_instances_without_force(
        hosts: pathlib.Path, tmp_path: pathlib.Path) -> None:
    runner = NovaRunner()
    instances = _managed(runner, 4)
    path = tmp_path / 'servers.json'
    path.write_text('[]')  # an empty list: every instance would be stale
    code, rows = cli('dns', 'reconcile', '--servers', str(path), '--fix',
                     '-f', 'json')
    assert code == 1  # drift found, not fixed
    assert {r['Action'] for r in rows} == {'refused'}
    assert len(lines(hosts)) == 4  # nothing removed
    # One instance of four really is gone: within the share, removed.
    path.write_text(json.dumps([{'ID': i.uuid} for i in instances[1:]]))
    code, rows = cli('dns', 'reconcile', '--servers', str(path), '--fix',
                     '--max-remove', '25', '-f', 'json')
    assert code == 0
    assert [(r['Drift'], r['Instance'], r['Action']) for r in rows] == [
        ('stale', instances[0].uuid, 'removed')]
    assert len(lines(hosts)) == 3
    # --force removes beyond the share.
    path.write_text('[]')
    code, rows = cli('dns', 'reconcile', '--servers', str(path), '--fix',
                     '--force', '-f', 'json')
    assert code == 0 and {r['Action'] for r in rows} == {'removed'}
    assert lines(hosts) == []


def test_reconcile_compares_only_what_a_hosts_file_can_hold(
        write_config: WriteConfig, tmp_path: pathlib.Path) -> None:
    path = tmp_path / 'hosts'
    write_config(enabled_plugins='dns', extra=(
        '[dns]\nzone = cloud.internal.\nreverse_zones = %s\n'
        '[dns_hostsfile]\npath = %s\n' % (V4_ZONE, path)))
    runner = NovaRunner()
    build(runner, 'web', '10.0.0.70')
    code, rows = cli('dns', 'reconcile', '-f', 'json')
    assert code == 0 and rows == []  # no PTR "missing" for ever
    code, rows = cli('dns', 'records', '-f', 'json')
    assert [r['Type'] for r in rows] == ['A']


def test_reconcile_takes_floating_ips_from_the_floating_ip_list(
        write_config: WriteConfig, tmp_path: pathlib.Path) -> None:
    """A floating record whose floating IP Neutron's list shows moved to
    another fixed IP, or associated with nothing, is drift ("floating");
    --fix removes it and keeps the instance's own records; a floating IP
    still associated with the instance is left alone."""
    path = tmp_path / 'hosts'
    write_config(enabled_plugins='dns', extra=(
        '[dns]\nzone = cloud.internal.\nfloating_template = {hostname}-fip\n'
        '[dns_hostsfile]\npath = %s\n' % path))
    runner = NovaRunner()
    for name, fixed, fip in (('web', '10.0.0.90', '203.0.113.90'),
                             ('db', '10.0.0.91', '203.0.113.91')):
        inst = factories.instance(
            state='active', host='c1', hostname=name,
            network=factories.network_info(factories.vif(
                fixed, floating=[fip])))
        args, _ = factories.build_instance_args(inst)
        runner.call('build_instance', lambda *a: 'active', *args)
    assert '203.0.113.90 web-fip.cloud.internal' in lines(path)
    listing = tmp_path / 'fips.json'
    listing.write_text(json.dumps([
        {'ID': 'f-90', 'Floating IP Address': '203.0.113.90',
         'Fixed IP Address': None, 'Port': None},
        {'ID': 'f-91', 'Floating IP Address': '203.0.113.91',
         'Fixed IP Address': '10.0.0.91', 'Port': 'p-91'}]))
    code, rows = cli('dns', 'reconcile', '--floating-ips', str(listing),
                     '-f', 'json')
    assert code == 1
    assert [(r['Drift'], r['Name'], r['Value']) for r in rows] == [
        ('floating', 'web-fip.cloud.internal.', '203.0.113.90')]
    code, rows = cli('dns', 'reconcile', '--floating-ips', str(listing),
                     '--fix', '-f', 'json')
    assert code == 0 and [r['Action'] for r in rows] == ['removed']
    assert lines(path) == sorted([
        '10.0.0.90 web.cloud.internal', '10.0.0.91 db.cloud.internal',
        '203.0.113.91 db-fip.cloud.internal'])
    code, rows = cli('dns', 'reconcile', '--floating-ips', str(listing),
                     '-f', 'json')
    assert code == 0 and rows == []
    listing.write_text(json.dumps([{'ID': 'x', 'Name': 'not a fip'}]))
    code, _ = cli('dns', 'reconcile', '--floating-ips', str(listing))
    assert code == 2


# -- ownership and races ------------------------------------------------------

def test_a_record_two_instances_hold_stays_until_both_let_go(
        hosts: pathlib.Path) -> None:
    runner = NovaRunner()
    # The old instance's records are still there (its delete has not been
    # seen yet) when a new one takes the same name and address.
    old = build(runner, 'web', '10.0.0.80')
    new = build(runner, 'web', '10.0.0.80')
    delete_instance(runner, old)
    assert lines(hosts) == ['10.0.0.80 web.cloud.internal']
    code, rows = cli('dns', 'records', '-f', 'json')
    assert [(r['Instance'], r['Value']) for r in rows] == [
        (new.uuid, '10.0.0.80')]
    delete_instance(runner, new)
    assert lines(hosts) == []
    code, rows = cli('dns', 'records', '-f', 'json')
    assert rows == []


def _flap(config_file: str, uuid: str, first: int, rounds: int,
          ready: Any, go: Any) -> None:
    """One process: the instance moves between two addresses."""
    os.environ[config.CONFIG_ENV] = config_file
    config.reset()
    runner = NovaRunner()
    inst = factories.instance(state='active', host='c1', uuid=uuid,
                              hostname='flap')
    dns_service.service().ready()
    ready.set()
    assert go.wait(120)  # both processes start deciding at the same moment
    for index in range(rounds):
        address = '10.0.2.%d' % (first + index % 2)
        args, kwargs = factories.instance_network_info_args(
            inst, factories.network_info(factories.vif(address)))
        runner.call('instance_network_info', lambda *a, **k: None, *args,
                    **kwargs)
        assert runner.runs[-1].outcome == 'ok', runner.runs[-1]


@pytest.mark.parametrize('database', ['sqlite', 'postgresql'])
def test_two_processes_deciding_for_one_instance_lose_no_update(
        database: str, write_config: WriteConfig, tmp_path: pathlib.Path,
        request: pytest.FixtureRequest) -> None:
    """Each decision is taken under the instance's lock, against what the
    other process decided: the instance ends with exactly one record."""
    url = database_url(database, tmp_path / 'shared.sqlite', request)
    path = tmp_path / 'hosts'
    config_file = write_config(enabled_plugins='dns', extra=(
        '[dns]\nzone = cloud.internal.\ndatabase_url = %s\n'
        'send_budget_ms = 0\nheal_recheck_seconds = 0\n'
        '[dns_hostsfile]\npath = %s\n' % (url, path)))
    uuid = '00000000-0000-0000-0000-00000000f1a9'
    dns_service.service().ready()  # the schema, before the race
    context = multiprocessing.get_context('spawn')
    go = context.Event()
    ready = [context.Event(), context.Event()]
    procs = [context.Process(target=_flap, args=(
        str(config_file), uuid, first, 100, flag, go))
        for first, flag in zip((1, 11), ready)]
    for proc in procs:
        proc.start()
    # Both imported, their service built, and waiting for the signal.
    deadline = time.monotonic() + 120
    for proc, flag in zip(procs, ready):
        while not flag.wait(0.1):
            assert proc.is_alive(), 'exited before it was ready: %s' % (
                proc.exitcode)
            assert time.monotonic() < deadline, 'not ready within 120 s'
    go.set()
    for proc in procs:
        proc.join(180)
        assert proc.exitcode == 0
    with dns_service.service().engine.begin() as conn:
        have = state.effective(conn, uuid)
    assert len(have) == 1, sorted(have)  # one address, one record
    code, rows = cli('dns', 'flush', '-f', 'json')
    assert code == 0, rows
    assert lines(path) == ['%s flap.cloud.internal' % next(iter(have)).value]


# -- bounded memory -----------------------------------------------------------

def test_per_instance_memory_stays_bounded(hosts: pathlib.Path,
                                          monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    monkeypatch.setattr(SEEN, '_memory', lru.LRU(20))
    monkeypatch.setattr(dns_service, 'FALLBACK_LIMIT', 20)
    dns_service.reset()
    dns = dns_service.service()
    runner = NovaRunner()
    seen: Set[str] = set()
    for n in range(200):  # 10x the bound
        inst = build(runner, 'm%d' % n, '10.0.3.%d' % (n + 1))
        seen.add(inst.uuid)
        args, _ = factories.delete_instance_args(inst)
        # A delete whose post never comes (its function failed in Nova).
        inst.task_state = 'deleting'
        with pytest.raises(RuntimeError):
            runner.call('delete_instance', _fails, *args)
        assert len(SEEN) <= 20 and len(dns.fallback) <= 20
    # The most recent are still recognised: an unchanged heal is free.
    inst.task_state = None  # Nova gives up the failed delete
    args, kwargs = factories.instance_network_info_args(inst)
    runner.call('instance_network_info', lambda *a, **k: None, *args,
                **kwargs)
    assert summaries(runner, 'dns:instance_network_info:post')[-1] == \
        'unchanged'



def _fails(*args: Any) -> None:
    raise RuntimeError('the delete failed in Nova')
