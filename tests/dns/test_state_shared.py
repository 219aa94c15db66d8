"""The DNS plugin's state in a database shared by processes: SQLite on
disk and a real PostgreSQL (tools/pg-server.sh), through the installed
entry points, Nova's runner semantics and the hosts-file backend (no DNS
server needed). Other processes are real ones: ``python -c`` and
``python -m novahooks_core.cli.app``, with $NOVAHOOKS_CONFIG pointing at
the same configuration.
"""

import dataclasses
import json
import pathlib
import signal
import subprocess
import sys
import textwrap
from typing import Any, Dict, List, Tuple

from oslo_utils import timeutils
import pytest
import sqlalchemy as sa

from novahooks_core.testing import NovaRunner, factories, run_lifecycle
from novahooks_dns import service as dns_service
from novahooks_dns import state
from tests.conftest import WriteConfig
from tests.dns.conftest import build
from tests.pg import PostgresServer, postgres  # noqa: F401

ROOT = pathlib.Path(__file__).resolve().parents[2]
PER_PROCESS = 50


@dataclasses.dataclass
class Shared:
    """One test's shared database and hosts file, and its configuration."""

    dialect: str
    url: str
    hosts: pathlib.Path
    write_config: WriteConfig

    def configure(self, **dns: object) -> pathlib.Path:
        """(Re)write $NOVAHOOKS_CONFIG with extra ``[dns]`` options."""
        options: Dict[str, object] = dict(
            backend='hostsfile', zone='cloud.internal.',
            database_url=self.url)
        options.update(dns)
        text = '[dns]\n%s\n[dns_hostsfile]\npath = %s\n' % (
            ''.join('%s = %s\n' % item for item in options.items()),
            self.hosts)
        return self.write_config(enabled_plugins='dns', extra=text)


@pytest.fixture(params=['sqlite', 'postgresql'])
def shared(request: pytest.FixtureRequest, tmp_path: pathlib.Path,
           write_config: WriteConfig) -> Shared:
    if request.param == 'sqlite':
        directory = tmp_path / 'shared'
        directory.mkdir()
        url = 'sqlite:///%s' % (directory / 'dns.sqlite')
    else:
        server: PostgresServer = request.getfixturevalue('postgres')
        server.reset()
        url = server.url
    setup = Shared(request.param, url, tmp_path / 'hosts', write_config)
    setup.configure()
    return setup


def lines(path: pathlib.Path) -> List[str]:
    if not path.exists():
        return []
    return sorted(line for line in path.read_text().splitlines()
                  if not line.startswith('#'))


def counts() -> Dict[str, int]:
    with dns_service.service().engine.begin() as conn:
        return state.counts(conn)


def applied() -> List[Tuple[str, str, str, str]]:
    with dns_service.service().engine.begin() as conn:
        return [(r.instance_uuid, r.name, r.rtype, r.value)
                for r in state.applied_records(conn)]


def run_cli(*argv: str) -> Any:
    """``novahooks ...`` in another process; its JSON output."""
    done = subprocess.run(
        [sys.executable, '-m', 'novahooks_core.cli.app'] + list(argv),
        stdin=subprocess.DEVNULL, capture_output=True, timeout=120,
        cwd=str(ROOT))
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout.decode())


def spawn(code: str, *argv: str) -> 'subprocess.Popen[str]':
    return subprocess.Popen(
        [sys.executable, '-c', textwrap.dedent(code)] + list(argv),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, universal_newlines=True, cwd=str(ROOT))


def test_the_configured_database_is_used(shared: Shared) -> None:
    dns_service.service().ready()  # the schema is migrated on first use
    engine = dns_service.service().engine
    assert engine.dialect.name == shared.dialect
    assert set(state.metadata.tables) <= set(
        sa.inspect(engine).get_table_names())


def test_a_lifecycle_leaves_no_rows(shared: Shared) -> None:
    runner = NovaRunner()  # the installed entry points, via stevedore
    instances = run_lifecycle(runner, count=3)
    outcomes = {(r.handler, r.outcome) for r in runner.runs if r.handler}
    assert outcomes and all(o == 'ok' for _, o in outcomes), outcomes
    summaries = [r.summary for r in runner.runs
                 if r.handler == 'dns:instance_network_info:post']
    assert str(summaries[0]).startswith('2 added, 0 removed'), summaries
    assert lines(shared.hosts) == []
    assert counts() == {'pending': 0, 'applied': 0}
    with dns_service.service().engine.begin() as conn:
        rows = list(conn.execute(state.instances.select()))
    # Remembered at create, marked deleted at delete.
    assert {r.uuid for r in rows} == {i.uuid for i in instances}
    assert all(r.deleted_at is not None for r in rows)


def test_records_applied_here_are_listed_by_another_process(
        shared: Shared) -> None:
    runner = NovaRunner()
    web = build(runner, 'web', '10.0.0.9')
    build(runner, 'db', '10.0.0.10')
    assert lines(shared.hosts) == ['10.0.0.10 db.cloud.internal',
                                   '10.0.0.9 web.cloud.internal']
    rows = run_cli('dns', 'records', '-f', 'json')
    assert sorted((r['Name'], r['Type'], r['Value']) for r in rows) == [
        ('db.cloud.internal.', 'A', '10.0.0.10'),
        ('web.cloud.internal.', 'A', '10.0.0.9')]
    rows = run_cli('dns', 'records', web.uuid, '-f', 'json')
    assert [(r['Instance'], r['Value']) for r in rows] == [
        (web.uuid, '10.0.0.9')]
    assert run_cli('dns', 'pending', '-f', 'json') == []


SYNC_MANY = '''
import json, os, sys, time
from novahooks_core.testing import NovaRunner, factories
from novahooks_dns import service as dns_service

index, count, go = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
runner = NovaRunner()
instances = [factories.instance(
    state='active', host='compute-%d' % index,
    hostname='p%d-%d' % (index, n),
    network=factories.network_info(factories.vif(
        '10.%d.0.%d' % (index, n + 1)))) for n in range(count)]
dns_service.service()  # connected before the start
print('ready', flush=True)
deadline = time.monotonic() + 60
while not os.path.exists(go) and time.monotonic() < deadline:
    time.sleep(0.002)
for inst in instances:
    args, _ = factories.build_instance_args(inst)
    runner.call('build_instance', lambda *a: 'active', *args)
# What the budgets left (another process may be sending it: retry).
sender = dns_service.service().sender
deadline = time.monotonic() + 60
left = sender.flush()
while not left.done and time.monotonic() < deadline:
    time.sleep(0.05)
    left = sender.flush()
print(json.dumps({
    'uuids': [i.uuid for i in instances],
    'summaries': [r.summary for r in runner.runs
                  if r.handler == 'dns:build_instance:post'],
    'bad': [(r.handler, r.outcome, r.summary) for r in runner.runs
            if r.handler and r.outcome != 'ok'],
    'left_errors': left.errors, 'left_done': left.done}), flush=True)
'''


def test_two_processes_syncing_at_once_lose_and_duplicate_nothing(
        shared: Shared, tmp_path: pathlib.Path) -> None:
    dns_service.service()  # the tables exist before the processes start
    go = tmp_path / 'go'
    processes = [spawn(SYNC_MANY, str(index), str(PER_PROCESS), str(go))
                 for index in (1, 2)]
    try:
        for process in processes:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.strip() == 'ready', process.communicate()[1]
        go.write_text('go')
        results = []
        for process in processes:
            out, err = process.communicate(timeout=240)
            assert process.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    for result in results:
        assert result['bad'] == [], result['bad']
        assert result['left_errors'] == [] and result['left_done']
        assert len(result['summaries']) == PER_PROCESS
        assert all(s.startswith('1 added, 0 removed')
                   for s in result['summaries']), result['summaries']
    owners = {uuid: index for index, result in enumerate(results, 1)
              for uuid in result['uuids']}
    expected = sorted(
        (uuid, 'p%d-%d.cloud.internal.' % (index, n), 'A',
         '10.%d.0.%d' % (index, n + 1))
        for index, result in enumerate(results, 1)
        for n, uuid in enumerate(result['uuids']))
    assert len(owners) == 2 * PER_PROCESS
    got = applied()
    assert sorted(got) == expected  # none lost, none twice
    assert counts() == {'pending': 0, 'applied': 2 * PER_PROCESS}
    hosts = lines(shared.hosts)
    assert len(hosts) == len(set(hosts)) == 2 * PER_PROCESS
    assert hosts == sorted('%s %s' % (value, name.rstrip('.'))
                           for _, name, _, value in expected)


ENQUEUE_AND_HANG = '''
import dataclasses, sys, time
from novahooks_core.testing import NovaRunner, factories
from novahooks_dns import service as dns_service

service = dns_service.service()
# The real background worker starts, but would wake only in a minute.
service.sender.policy = dataclasses.replace(service.sender.policy,
                                            poll=60.0)
runner = NovaRunner()
inst = factories.instance(state='active', host='c9', hostname='victim',
                          uuid=sys.argv[1], network=factories.network_info(
                              factories.vif('10.0.0.4', ipv6='fd00:10::4')))
args, _ = factories.build_instance_args(inst)
runner.call('build_instance', lambda *a: 'active', *args)
print(runner.runs[-1].summary, flush=True)
time.sleep(600)
'''


def test_the_outbox_survives_a_killed_process(shared: Shared) -> None:
    shared.configure(send_budget_ms=0)
    uuid = factories.new_uuid()
    process = spawn(ENQUEUE_AND_HANG, uuid)
    try:
        assert process.stdout is not None
        summary = process.stdout.readline().strip()
        assert summary == '2 added, 0 removed (queued)', (
            summary, process.stderr and process.stderr.read())
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == -signal.SIGKILL
    assert lines(shared.hosts) == []  # died before sending
    pending = run_cli('dns', 'pending', '-f', 'json')
    assert sorted((r['Instance'], r['Op'], r['Value']) for r in pending) == [
        (uuid, 'add', '10.0.0.4'), (uuid, 'add', 'fd00:10::4')]
    rows = run_cli('dns', 'flush', '-f', 'json')
    assert [(r['Sent'], r['Failed'], r['Pending']) for r in rows] == [
        (2, 0, 0)]
    assert lines(shared.hosts) == ['10.0.0.4 victim.cloud.internal',
                                   'fd00:10::4 victim.cloud.internal']
    assert counts() == {'pending': 0, 'applied': 2}
    assert sorted(applied()) == [
        (uuid, 'victim.cloud.internal.', 'A', '10.0.0.4'),
        (uuid, 'victim.cloud.internal.', 'AAAA', 'fd00:10::4')]


def test_pg_reset_empties_the_database(
        postgres: PostgresServer) -> None:  # noqa: F811
    engine = sa.create_engine(postgres.url, poolclass=sa.pool.NullPool)
    state.metadata.create_all(engine)
    assert set(state.metadata.tables) <= set(postgres.table_names())
    with engine.begin() as conn:  # an idle connection left open
        conn.execute(state.instances.insert().values(
            uuid='x', created_at=timeutils.utcnow()))
    idle = engine.connect()
    try:
        postgres.reset()
    finally:
        idle.close()
    assert postgres.table_names() == []
