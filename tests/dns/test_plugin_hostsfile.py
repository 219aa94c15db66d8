"""The DNS plugin on its embedded backend (hosts file), through the real
entry points and Nova's runner semantics; no DNS server needed."""

import dataclasses
import datetime
import json
import os
import pathlib
import time
from typing import Any, List

import pytest
import sqlalchemy as sa

from novahooks_core.containment import timing
from novahooks_core.hooks import dispatch
from novahooks_core.state import db
from novahooks_core.testing import NovaRunner, factories, run_lifecycle
from novahooks_dns import service as dns_service
from novahooks_dns import state
from novahooks_dns.backends.hostsfile import HostsFileBackend
from novahooks_dns.records import Record
from tests.conftest import WriteConfig, cli
from tests.dns.conftest import build


@pytest.fixture
def hosts(write_config: WriteConfig, tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / 'hosts'
    write_config(enabled_plugins='dns', extra=(
        '[dns]\nzone = cloud.internal.\nretry_initial_seconds = 0.1\n'
        '[dns_hostsfile]\npath = %s\n' % path))
    return path


def lines(path: pathlib.Path) -> List[str]:
    return sorted(line for line in path.read_text().splitlines()
                  if not line.startswith('#'))


def test_records_follow_the_lifecycle(hosts: pathlib.Path) -> None:
    applies: List[int] = []
    real_apply = HostsFileBackend.apply

    def counting(self: HostsFileBackend, *args: Any) -> None:
        applies.append(1)
        real_apply(self, *args)

    runner = NovaRunner()  # the installed entry points, via stevedore
    HostsFileBackend.apply = counting  # type: ignore[method-assign]
    try:
        instances = run_lifecycle(runner, count=2)
    finally:
        HostsFileBackend.apply = real_apply  # type: ignore[method-assign]
    outcomes = {(r.handler, r.outcome) for r in runner.runs if r.handler}
    assert all(outcome == 'ok' for _, outcome in outcomes), outcomes
    summaries = [r.summary for r in runner.runs
                 if r.handler == 'dns:instance_network_info:post']
    # allocation, unchanged heal, deallocation (for each instance)
    assert summaries[1] == 'unchanged'
    assert summaries[0].startswith('2 added, 0 removed')  # A + AAAA
    assert lines(hosts) == []  # both deleted again
    # 2 instances x (allocation + deallocation) = 4 writes; heals: none
    assert len(applies) == 4
    with dns_service.service().engine.begin() as conn:
        assert state.counts(conn) == {'pending': 0, 'applied': 0}
    assert len(instances) == 2


def test_records_while_the_instance_lives(hosts: pathlib.Path) -> None:
    runner = NovaRunner()
    inst = factories.instance(state='active', host='c1', hostname='web',
                              network=factories.network_info(
                                  factories.vif('10.0.0.9',
                                                ipv6='fd00:10::9')))
    args, _ = factories.build_instance_args(inst)
    runner.call('build_instance', lambda *a: 'active', *args)
    assert lines(hosts) == ['10.0.0.9 web.cloud.internal',
                            'fd00:10::9 web.cloud.internal']
    code, rows = cli('dns', 'records', inst.uuid, '-f', 'json')
    assert code == 0 and {r['Value'] for r in rows} == {'10.0.0.9',
                                                         'fd00:10::9'}
    # An interface attach adds a NIC: only the difference is sent.
    moved = factories.network_info(
        factories.vif('10.0.0.9', ipv6='fd00:10::9'),
        factories.vif('10.0.0.77', network_label='second'))
    net_args, net_kwargs = factories.instance_network_info_args(inst, moved)
    runner.call('instance_network_info', lambda *a, **k: None, *net_args,
                **net_kwargs)
    assert '10.0.0.77 web.cloud.internal' in lines(hosts)
    # A live instance's cache that empties out keeps its records.
    net_args, net_kwargs = factories.instance_network_info_args(
        inst, factories.network_info())
    runner.call('instance_network_info', lambda *a, **k: None, *net_args,
                **net_kwargs)
    assert len(lines(hosts)) == 3
    assert runner.runs[-1].summary == (
        'empty network info of a live instance: kept')


def test_a_failing_backend_never_breaks_nova_and_loses_nothing(
        write_config: WriteConfig, tmp_path: pathlib.Path) -> None:
    blocker = tmp_path / 'not-a-dir'
    blocker.write_text('a file where a directory should be')
    config_path = write_config(enabled_plugins='dns', extra=(
        '[dns]\nretry_initial_seconds = 0.05\nretry_max_seconds = 0.1\n'
        '[dns_hostsfile]\npath = %s\n' % (blocker / 'hosts')))
    runner = NovaRunner()
    inst = factories.instance(state='active', host='c1', hostname='db',
                              network=factories.network_info(
                                  factories.vif('10.0.0.3')))
    args, _ = factories.build_instance_args(inst)
    assert runner.call('build_instance', lambda *a: 'active', *args) \
        == 'active'
    assert 'pending' in (runner.runs[-1].summary or '')
    code, rows = cli('dns', 'pending', '-f', 'json')
    assert code == 0 and len(rows) == 1
    assert 'cannot write' in rows[0]['Last error']
    # The operator fixes the path; the worker (or a flush) catches up.
    good = tmp_path / 'hosts'
    config_path.write_text(config_path.read_text().replace(
        str(blocker / 'hosts'), str(good)))
    dns_service.reset()
    write_config(enabled_plugins='dns', extra=config_path.read_text().split(
        '\n', 3)[-1])
    code, rows = cli('--config-file', str(config_path), 'dns', 'flush',
                     '-f', 'json')
    assert code == 0 and rows[0]['Pending'] == 0
    assert lines(good) == ['10.0.0.3 db.cloud.internal']


def test_a_crash_between_outbox_and_send_loses_nothing(
        write_config: WriteConfig, tmp_path: pathlib.Path) -> None:
    hosts = tmp_path / 'hosts'
    extra = '[dns]\nsend_budget_ms = 0\n[dns_hostsfile]\npath = %s\n' % hosts
    path = write_config(enabled_plugins='dns', extra=extra)
    service = dns_service.service()
    service.sender.ensure_worker = lambda now=False: None  # type: ignore
    inst = factories.instance(state='active', host='c1', hostname='app',
                              network=factories.network_info(
                                  factories.vif('10.0.0.4')))
    args, _ = factories.build_instance_args(inst)
    NovaRunner().call('build_instance', lambda *a: 'active', *args)
    assert not hosts.exists()  # "died" before sending
    dns_service.reset()  # a new process
    db.reset()
    code, rows = cli('--config-file', str(path), 'dns', 'flush', '-f',
                     'json')
    assert code == 0 and rows[0]['Sent'] == 1
    assert lines(hosts) == ['10.0.0.4 app.cloud.internal']


def test_the_background_worker_retries(write_config: WriteConfig,
                                       tmp_path: pathlib.Path) -> None:
    target = tmp_path / 'later'
    write_config(enabled_plugins='dns', extra=(
        '[dns]\nretry_initial_seconds = 0.05\nretry_max_seconds = 0.1\n'
        '[dns_hostsfile]\npath = %s\n' % (target / 'hosts')))
    target.write_text('blocks the directory for now')
    service = dns_service.service()
    service.sender.policy = type(service.sender.policy)(
        poll=0.05, retry_initial=0.05, retry_max=0.1)
    build(NovaRunner(), 'late', '10.0.0.8')
    assert service.sender.has_pending()
    os.unlink(target)
    deadline = time.monotonic() + 10
    while service.sender.has_pending() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not service.sender.has_pending()
    assert lines(target / 'hosts') == ['10.0.0.8 late.cloud.internal']



def _booted_with_the_budget_spent(write_config: WriteConfig,
                                  hosts: pathlib.Path) -> Any:
    """An instance booted with a send budget too small for anything: its
    records are left in the outbox; the background worker does not run
    before the test says so."""
    write_config(enabled_plugins='dns', extra=(
        '[dns]\nsend_budget_ms = 0.000001\n'
        '[dns_hostsfile]\npath = %s\n' % hosts))
    service = dns_service.service()
    service.sender.policy = dataclasses.replace(service.sender.policy,
                                                poll=600)
    runner = NovaRunner()
    build(runner, 'slow', '10.0.0.9')
    post = [r for r in runner.runs if r.handler == 'dns:build_instance:post']
    assert 'budget spent' in post[0].summary, post[0].summary
    return service


def test_a_spent_budget_leaves_nothing_claimed(
        write_config: WriteConfig, tmp_path: pathlib.Path) -> None:
    """What the inline send claimed and had no time for is given back:
    the worker (another sender) sends it at once, not after the claim's
    lease (about half a minute) runs out."""
    hosts = tmp_path / 'hosts'
    service = _booted_with_the_budget_spent(write_config, hosts)
    with service.engine.begin() as conn:
        claimed = [row.claimed_by for row in conn.execute(
            state.outbox.select())]
    assert claimed == [None]
    result = service.sender.flush()
    assert result.done and result.sent == 1
    assert lines(hosts) == ['10.0.0.9 slow.cloud.internal']


def test_a_stopped_sender_sends_nothing_more(
        write_config: WriteConfig, tmp_path: pathlib.Path) -> None:
    """Once its service is replaced (a new configuration), the old
    sender's worker stops sending the old way and claims nothing: the
    new service's sender has it all."""
    hosts = tmp_path / 'hosts'
    old = _booted_with_the_budget_spent(write_config, hosts)
    old.close()
    assert not old.sender.flush().sent
    assert old.sender.has_pending()
    dns_service.reset()
    new = dns_service.service()
    assert new.sender.flush().sent == 1
    assert lines(hosts) == ['10.0.0.9 slow.cloud.internal']



def test_flush_leaves_a_zone_another_sender_is_sending(
        write_config: WriteConfig, tmp_path: pathlib.Path) -> None:
    """``dns flush`` never takes changes out of a live sender's hands (two
    senders of one zone could send out of order): it says so, exits 1,
    and sends them once they are free."""
    hosts = tmp_path / 'hosts'
    service = _booted_with_the_budget_spent(write_config, hosts)
    config_file = os.environ['NOVAHOOKS_CONFIG']
    now = datetime.datetime.utcnow()
    with service.engine.begin() as conn:
        ids = [row.id for row in conn.execute(state.outbox.select())]
        held = state.claim(conn, ids, 'listener', now + datetime.timedelta(
            seconds=60), now)
    code, rows = cli('--config-file', config_file, 'dns', 'flush',
                     '-f', 'json')
    assert code == 1 and rows[0]['Sent'] == 0 and rows[0]['Pending'] == 1
    assert 'being sent by another process' in rows[0]['Last error']
    assert not hosts.exists() or lines(hosts) == []
    with service.engine.begin() as conn:
        # The other sender failed: its postponement is its own...
        state.postpone(conn, held, 'someone else', 'late', 1.0, 1.0)
        assert state.claimed(conn) == 1
        state.postpone(conn, held, 'listener', 'timed out', 60.0, 60.0)
        assert state.claimed(conn) == 0
    code, rows = cli('--config-file', config_file, 'dns', 'flush',
                     '-f', 'json')
    assert code == 0 and rows[0]['Sent'] == 1, rows
    assert lines(hosts) == ['10.0.0.9 slow.cloud.internal']


def test_delete_with_lost_state_uses_the_info_cache(
        hosts: pathlib.Path) -> None:
    hosts.write_text('10.0.0.6 lost.cloud.internal\n')
    inst = factories.instance(state='active', host='c1', hostname='lost',
                              network=factories.network_info(
                                  factories.vif('10.0.0.6')))
    inst.task_state = 'deleting'
    args, _ = factories.delete_instance_args(inst)
    NovaRunner().call('delete_instance', lambda *a: None, *args)
    assert lines(hosts) == []


def test_reconcile_reports_and_repairs(hosts: pathlib.Path,
                                       tmp_path: pathlib.Path) -> None:
    runner = NovaRunner()
    alive, gone = (factories.instance(
        state='active', host='c1', hostname=name,
        network=factories.network_info(factories.vif(ip)))
        for name, ip in (('alive', '10.0.0.21'), ('gone', '10.0.0.22')))
    for inst in (alive, gone):
        args, _ = factories.build_instance_args(inst)
        runner.call('build_instance', lambda *a: 'active', *args)
    # Someone removed a record by hand; 'gone' was deleted while its
    # compute host was down (no delete_instance hook ever fired).
    hosts.write_text('10.0.0.22 gone.cloud.internal\n'
                     '10.9.9.9 printer.cloud.internal\n')
    servers = tmp_path / 'servers.json'
    servers.write_text(json.dumps([{'ID': alive.uuid, 'Name': 'alive'}]))
    code, rows = cli('dns', 'reconcile', '--servers', str(servers), '-f',
                     'json')
    assert code == 1  # drift found, not fixed
    assert sorted((r['Drift'], r['Value']) for r in rows) == [
        ('missing', '10.0.0.21'), ('stale', '10.0.0.22'),
        ('unmanaged', '10.9.9.9')]
    code, rows = cli('dns', 'reconcile', '--servers', str(servers), '--fix',
                     '-f', 'json')
    assert code == 0
    assert lines(hosts) == ['10.0.0.21 alive.cloud.internal',
                            '10.9.9.9 printer.cloud.internal']
    code, rows = cli('dns', 'reconcile', '--servers', str(servers), '-f',
                     'json')
    assert [(r['Drift'], r['Value']) for r in rows] == [
        ('unmanaged', '10.9.9.9')]


def test_duplicate_names_are_refused_when_configured(
        hosts: pathlib.Path, write_config: WriteConfig) -> None:
    from novahooks_core import FatalHookException
    write_config(enabled_plugins='dns', allow_veto='true', extra=(
        '[dns]\nrefuse_duplicate_names = true\n'
        '[dns_hostsfile]\npath = %s\n' % hosts))
    runner = NovaRunner()
    build(runner, 'web-1', '10.0.0.31')
    args, kwargs = factories.create_instance_args(display_name='web 1')
    with pytest.raises(FatalHookException, match='already registered'):
        runner.call('create_instance', lambda *a, **k: ([], 'r'), *args,
                    **kwargs)
    args, kwargs = factories.create_instance_args(display_name='web 2')
    runner.call('create_instance', lambda *a, **k: ([], 'r'), *args,
                **kwargs)
    assert timing.snapshot()['dns:create_instance:pre'].vetoes == 1
    assert dispatch.active_handlers  # the dispatcher served both calls


def test_a_failed_send_is_postponed_with_one_statement(
        hosts: pathlib.Path) -> None:
    """A send that failed postpones every change it held with one
    statement (executemany), however many: a listener's batch of
    hundreds of changes is not written back row by row. Each change's
    attempt is counted and its claim given back; a change another sender
    holds is left as it is."""
    service = dns_service.service()
    service.ensure_schema()
    records = [Record('cloud.internal.', 'vm%d.cloud.internal.' % n, 'A',
                      '10.0.1.%d' % n, 300) for n in range(30)]
    now = datetime.datetime.utcnow()
    until = now + datetime.timedelta(seconds=60)
    with service.engine.begin() as conn:
        state.enqueue(conn, 'u-1', records, ())
        ids = [row.id for row in conn.execute(state.outbox.select())]
        mine = state.claim(conn, ids[:-1], 'me', until, now)
        state.claim(conn, ids[-1:], 'other', until, now)
    statements: List[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])
    sa.event.listen(sa.engine.Engine, 'before_cursor_execute', count)
    try:
        with service.engine.begin() as conn:
            state.postpone(conn, mine, 'me', 'refused', 2.0, 300.0)
    finally:
        sa.event.remove(sa.engine.Engine, 'before_cursor_execute', count)
    assert len([s for s in statements if s.startswith('UPDATE')]) == 1
    with service.engine.begin() as conn:
        rows = {row.id: row for row in conn.execute(state.outbox.select())}
    assert all(rows[i].attempts == 1 and rows[i].claimed_by is None
               and rows[i].last_error == 'refused'
               and rows[i].next_attempt_at > now for i in ids[:-1])
    assert rows[ids[-1]].attempts == 0 and rows[ids[-1]].claimed_by == 'other'
