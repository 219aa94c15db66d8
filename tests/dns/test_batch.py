"""The DNS plugin in the listener's batches (:meth:`DnsHook.handle_batch`):
the state of a batch's instances read once, each event decided in memory,
in order, and written once. The same events give the same outbox (in the
same order), applied records, instance rows, hosts file and outcomes as
one at a time through the spool (Nova's hook path): names and addresses
shared by several instances, records a live instance keeps, deletes of
instances this database never tracked, notifications that do not carry
floating IPs. On SQLite and a real PostgreSQL (tools/pg-server.sh), with
the hosts-file backend.
"""

import collections
import dataclasses
import pathlib
import random
import threading
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest
import sqlalchemy as sa

from novahooks_core import (
    HookEvent,
    HookPoint,
    NovaHook,
    Outcome,
    Phase,
    models,
    normalize,
)
from novahooks_core.hooks.event import NotifiedEvent
from novahooks_core.hooks.seen import SEEN
from novahooks_core.models import Instance
from novahooks_core.notify import mapping
from novahooks_core.state import db
from novahooks_core.testing import factories
from novahooks_dns import hooks, state
from novahooks_dns import service as dns_service
from novahooks_dns.sender import Sender
from tests.conftest import WriteConfig
from tests.pg import PostgresServer, postgres  # noqa: F401

Call = Tuple[NovaHook, HookEvent]
CREATE, BUILD = HookPoint.CREATE_INSTANCE, HookPoint.BUILD_INSTANCE
NETWORK, DELETE = HookPoint.INSTANCE_NETWORK_INFO, HookPoint.DELETE_INSTANCE
PRE, POST = Phase.PRE, Phase.POST

NAMES = ('web', 'db', 'cache')
ADDRESSES = ('10.0.0.5', '10.0.0.6', '10.0.0.7', '10.0.0.8')
FLOATING = ('172.24.4.5', '172.24.4.6')


def uuid_of(n: int) -> str:
    return '00000000-0000-0000-0042-%012d' % n


def instance(n: int, name: str, addresses: Sequence[str] = (),
             floating: Sequence[str] = (), notified: bool = False,
             **fields: Any) -> Instance:
    """Instance ``n`` named ``name`` with a port per address (the first
    carrying ``floating``); ``notified``: its network info as a
    notification carries it (no floating IPs known)."""
    vifs = [factories.vif(address, floating=floating if not i else (),
                          port_id='port-%d-%s' % (n, address),
                          mac='fa:16:3e:00:%02x:%02x' % (n, i))
            for i, address in enumerate(addresses)]
    fields.setdefault('state', 'active')
    found = normalize.instance(factories.instance(
        host='c1', uuid=uuid_of(n), hostname=name, display_name=name,
        network=vifs, **fields))
    assert found is not None and found.network_info is not None
    if notified:
        found = dataclasses.replace(found, network_info=dataclasses.replace(
            found.network_info, unknown=mapping.NOT_CARRIED))
    return found


def create(found: Instance) -> List[Call]:
    return [(hooks.DnsCreateInstance(), NotifiedEvent(
        CREATE, POST, found, instances=(found,)))]


def build(found: Instance, result: str = 'active') -> List[Call]:
    return [(hooks.DnsBuildInstance(), NotifiedEvent(
        BUILD, POST, found, result=result))]


def network(found: Instance) -> List[Call]:
    return [(hooks.DnsInstanceNetworkInfo(), NotifiedEvent(
        NETWORK, POST, found))]


def delete(found: Instance, deallocate: bool = True) -> List[Call]:
    """A delete as the listener delivers it: ``delete_instance`` pre (the
    info cache kept), the deallocation, ``delete_instance`` post."""
    gone = dataclasses.replace(found, vm_state='deleted', deleted=True)
    calls = [(hooks.DnsDeleteInstance(), NotifiedEvent(DELETE, PRE, found))]
    if deallocate:
        calls += network(dataclasses.replace(
            gone, network_info=normalize.network_info([])))
    return calls + [(hooks.DnsDeleteInstance(),
                     NotifiedEvent(DELETE, POST, gone))]


def story(seed: int, steps: int = 90, count: int = 7) -> List[List[Call]]:
    """Random events about ``count`` instances sharing a few names and
    addresses, in three phases (the sender confirms what each queued
    before the next)."""
    chosen = random.Random(seed)
    calls: List[Call] = []
    for _ in range(steps):
        n = chosen.randrange(count)
        name = NAMES[n % len(NAMES)] if chosen.random() < 0.8 else \
            chosen.choice(NAMES)
        found = instance(
            n, name, chosen.sample(ADDRESSES, chosen.choice([0, 1, 1, 2])),
            chosen.sample(FLOATING, chosen.choice([0, 0, 1])),
            notified=chosen.random() < 0.3)
        kind = chosen.choice(['create', 'build', 'build', 'failed',
                              'network', 'network', 'network', 'deleting',
                              'delete', 'lost'])
        if kind == 'create':
            calls += create(found)
        elif kind in ('build', 'failed'):
            calls += build(found, 'active' if kind == 'build' else 'failed')
        elif kind == 'network':
            calls += network(found)
        elif kind == 'deleting':
            calls += network(dataclasses.replace(
                found, task_state='deleting',
                network_info=normalize.network_info([])))
        else:  # a delete (its deallocation lost: the fallback decides)
            calls += delete(found, deallocate=kind == 'delete')
    third = len(calls) // 3
    return [calls[:third], calls[third:2 * third], calls[2 * third:]]


SCRIPTED = [
    # Two instances hold web -> 10.0.0.5; one queues its add in the batch
    # of the other's delete (the record is forgotten, not deleted).
    create(instance(0, 'web')) + build(instance(0, 'web', ['10.0.0.5']))
    + build(instance(1, 'web', ['10.0.0.5'], ['172.24.4.5'])),
    delete(instance(0, 'web', ['10.0.0.5']))
    + build(instance(2, 'db', ['10.0.0.6']))
    # A live instance's network info empty: its records are kept.
    + network(instance(1, 'web'))
    # Never tracked here: its fallback says what to remove (one record
    # held by instance 1).
    + delete(instance(3, 'web', ['10.0.0.5']), deallocate=False)
    # Notified: floating records not taken for removed.
    + network(instance(1, 'web', ['10.0.0.5'], notified=True))
    + build(instance(4, 'db', ['10.0.0.6']))
    + delete(instance(2, 'db', ['10.0.0.6'])),
    delete(instance(4, 'db', ['10.0.0.6']))
    + network(instance(1, 'www', ['10.0.0.7']))
    + delete(instance(1, 'www', ['10.0.0.7'])),
]


@pytest.fixture
def dns_state(write_config: WriteConfig, tmp_path: pathlib.Path,
              monkeypatch: pytest.MonkeyPatch,
              request: pytest.FixtureRequest) -> Iterator[Any]:
    """Configure DNS on a hosts file, its state on ``database`` (SQLite
    or PostgreSQL), nothing sent until the test flushes; returns a
    function starting a fresh state for ``name``."""
    monkeypatch.setattr(Sender, 'ensure_worker',
                        lambda self, now=False: None)
    database = getattr(request, 'param', 'sqlite')

    def fresh(name: str) -> pathlib.Path:
        dns_service.reset()
        db.reset()
        SEEN.clear()
        url = ''
        if database == 'postgresql':
            server: PostgresServer = request.getfixturevalue('postgres')
            server.reset()
            url = 'database_url = %s\n' % server.url
        hosts = tmp_path / name / 'hosts'
        write_config(enabled_plugins='dns', state_dir=tmp_path / name,
                     extra='[dns]\nzone = cloud.internal.\n'
                           'send_budget_ms = 0\nbatch_send_budget_ms = 0\n'
                           'floating_template = {hostname}-public\n'
                           + url + '[dns_hostsfile]\npath = %s\n' % hosts)
        return hosts
    yield fresh
    dns_service.reset()
    db.reset()


def snapshot(hosts: pathlib.Path) -> Dict[str, Any]:
    with dns_service.service().engine.connect() as conn:
        return {
            'outbox': [(r.instance_uuid, r.op, r.zone, r.name, r.rtype,
                        r.value, r.ttl) for r in state.pending(conn)],
            'applied': sorted((r.instance_uuid, r.zone, r.name, r.rtype,
                               r.value, r.ttl)
                              for r in state.applied_records(conn)),
            'instances': sorted(
                (r.uuid, r.name, r.project_id, r.deleted_at is None,
                 r.network_json)
                for r in conn.execute(state.instances.select())),
            'hosts': hosts.read_text() if hosts.exists() else ''}


def sent(hosts: pathlib.Path) -> Dict[str, Any]:
    """The state once the sender confirmed what was queued."""
    assert dns_service.service().sender.flush().done
    return snapshot(hosts)


def one_at_a_time(phases: List[List[Call]], hosts: pathlib.Path
                  ) -> Tuple[List[Outcome], List[Dict[str, Any]]]:
    """Nova's hook path: each event on its own, through the spool."""
    outcomes: List[Outcome] = []
    states = []
    for calls in phases:
        outcomes += [hook.handle(event) for hook, event in calls]
        states += [snapshot(hosts), sent(hosts)]
    return outcomes, states


def in_batches(calls: List[Call]) -> List[Outcome]:
    """The calls as one batch of the listener (its unit of work)."""
    unit = db.Unit()
    with db.using(unit):
        found = type(calls[0][0]).handle_batch(calls)
    unit.commit()
    return found


def batched(phases: List[List[Call]], hosts: pathlib.Path,
            seed: int) -> Tuple[List[Outcome], List[Dict[str, Any]]]:
    chosen = random.Random(seed)
    outcomes: List[Outcome] = []
    states = []
    for calls in phases:
        start = 0
        while start < len(calls):
            size = chosen.choice([1, 2, 5, 9, 17, 40])
            outcomes += in_batches(calls[start:start + size])
            start += size
        states += [snapshot(hosts), sent(hosts)]
    return outcomes, states


def read_late(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every instance's state read when its first operation comes, not
    when the batch begins."""
    monkeypatch.setattr(dns_service, 'uuids_of', lambda events: [])


@pytest.mark.parametrize('dns_state', ['sqlite', 'postgresql'],
                         indirect=True)
@pytest.mark.parametrize('read', ['at once', 'late'])
def test_a_batch_decides_as_one_at_a_time(
        dns_state: Any, read: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if read == 'late':
        read_late(monkeypatch)
    kinds: Dict[str, int] = collections.Counter()
    for seed, phases in [(0, SCRIPTED)] + [(s, story(s)) for s in (1, 2)]:
        hosts = dns_state('single-%d' % seed)
        expected, states = one_at_a_time(phases, hosts)
        hosts = dns_state('batched-%d' % seed)
        assert batched(phases, hosts, seed) == (expected, states)
        assert set(expected) <= {Outcome.OK, Outcome.UNCHANGED}
        for found in states:
            kinds.update(row[1] for row in found['outbox'])
    # The stories hold what makes a difference: records shared by two
    # instances (forgotten, not deleted), deletes, adds.
    assert kinds['forget'] and kinds['delete'] and kinds['add']


def test_the_scripted_story_covers_shared_kept_and_untracked(
        dns_state: Any, caplog: pytest.LogCaptureFixture) -> None:
    hosts = dns_state('batched')
    _, states = batched(SCRIPTED, hosts, 0)
    assert 'keeping its 2 record(s)' in caplog.text
    forgets = [row for found in states for row in found['outbox']
               if row[1] == 'forget']
    # Instance 0's delete and never-tracked instance 3's, of the record
    # instance 1 still holds; instance 2's, of the one instance 4 holds.
    assert sorted((row[0], row[3], row[5]) for row in forgets) == [
        (uuid_of(0), 'web.cloud.internal.', '10.0.0.5'),
        (uuid_of(2), 'db.cloud.internal.', '10.0.0.6'),
        (uuid_of(3), 'web.cloud.internal.', '10.0.0.5')]
    assert states[-1]['applied'] == [] and states[-1]['outbox'] == []
    assert not [line for line in states[-1]['hosts'].splitlines()
                if line and not line.startswith('#')]


def count_statements() -> Any:
    """Statements naming a ``dns_`` table, made by this thread."""
    counted: Dict[str, int] = collections.Counter()
    me = threading.get_ident()

    def count(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if 'dns_' in statement and threading.get_ident() == me:
            counted[statement.split()[0].upper()] += 1
    return counted, count


@pytest.mark.parametrize('dns_state', ['sqlite', 'postgresql'],
                         indirect=True)
def test_a_batch_reads_and_writes_each_table_once(dns_state: Any) -> None:
    dns_state('batched')
    in_batches(build(instance(99, 'warm', ['10.0.9.9'])))  # schema
    counted, count = count_statements()
    found: List[Dict[str, int]] = []
    sa.event.listen(sa.engine.Engine, 'before_cursor_execute', count)
    try:
        for size in (10, 100):
            boot = [call for n in range(size) for call in create(
                instance(1000 * size + n, 'boot%d' % n)) + build(instance(
                    1000 * size + n, 'boot%d' % n, ['10.1.%d.%d' % (
                        n // 250, n % 250 + 1)]))]
            assert set(in_batches(boot)) == {Outcome.OK}
            found.append(dict(counted))
            counted.clear()
            # Every instance renamed (its records replaced), then deleted.
            mixed = [call for n in range(size) for call in network(
                instance(1000 * size + n, 'new%d' % n, ['10.1.%d.%d' % (
                    n // 250, n % 250 + 1)])) + delete(instance(
                        1000 * size + n, 'new%d' % n))]
            assert set(in_batches(mixed)) == {Outcome.OK}
            found.append(dict(counted))
            counted.clear()
    finally:
        sa.event.remove(sa.engine.Engine, 'before_cursor_execute', count)
    boot10, mixed10, boot100, mixed100 = found
    assert boot10 == boot100 and mixed10 == mixed100, found
    # Read: instances, outbox, applied; written: outbox, new instances
    # (the boot), changed ones (the mixed batch), in one savepoint; the
    # mixed batch's releases also read who else holds those names.
    assert sum(boot100.values()) <= 8 and sum(mixed100.values()) <= 10, \
        found


@pytest.mark.parametrize('dns_state', ['sqlite', 'postgresql'],
                         indirect=True)
def test_a_batch_whose_write_fails_is_an_error_and_nothing_of_it_stays(
        dns_state: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every event of it is an error (the listener parks them and tries
    them again one at a time), nothing is written, and nothing is
    remembered as seen: the retry decides each again."""
    phases = SCRIPTED[:2]
    expected, states = one_at_a_time(phases, dns_state('single'))
    hosts = dns_state('batched')
    failing = phases[0] + phases[1]
    write = state.write_instances

    def broken(*args: Any) -> None:
        raise sa.exc.OperationalError('insert', {}, Exception('disk full'))
    monkeypatch.setattr(state, 'write_instances', broken)
    assert in_batches(failing) == [Outcome.ERROR] * len(failing)
    found = snapshot(hosts)
    assert found['outbox'] == [] and found['instances'] == []
    assert not any(SEEN.unchanged('dns', event) for _, event in failing)
    monkeypatch.setattr(state, 'write_instances', write)
    outcomes = [hook.handle(event) for hook, event in phases[0]]
    assert snapshot(hosts) == states[0] and sent(hosts) == states[1]
    outcomes += [hook.handle(event) for hook, event in phases[1]]
    assert snapshot(hosts) == states[2] and outcomes == expected


def spool(found: Instance) -> None:
    """A sync of ``found`` kept in the spool (the database was
    unavailable)."""
    assert found.network_info is not None
    dns_service.service().spool.journal.append({
        'op': 'sync', 'uuid': found.uuid,
        'instance': dns_service._instance_op(found),
        'network': models.to_primitive(found.network_info),
        'deleting': False})


def test_a_batch_behind_the_spool(dns_state: Any,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Operations spooled while the database was unavailable are replayed
    by the listener before its batch (outside its unit of work), which is
    then decided at once; while they cannot be replayed, the batch goes
    one event at a time, each operation spooled behind them, in order.
    Either way, the state of the spooled one decided in its time."""
    spooled = instance(5, 'cache', ['10.0.0.8'])
    calls = SCRIPTED[0] + SCRIPTED[1]
    expected, states = one_at_a_time([build(spooled) + calls],
                                     dns_state('single'))
    batches: List[int] = []
    batch = dns_service.DnsService.batch

    def counted(self: Any, events: Any) -> Any:
        batches.append(len(events))
        return batch(self, events)
    monkeypatch.setattr(dns_service.DnsService, 'batch', counted)

    hosts = dns_state('replayed')
    spool(spooled)
    hooks.DnsHook.before_batch()
    assert not dns_service.service().spool.journal.exists()
    assert in_batches(calls) == expected[1:]
    assert batches == [len(calls)] and snapshot(hosts) == states[0]

    hosts = dns_state('behind')
    spool(spooled)
    batches.clear()
    outcomes = in_batches(calls)
    assert batches == [] and set(outcomes) == {Outcome.OK}
    dns = dns_service.service()
    assert dns.spool.depth() > 1 and snapshot(hosts)['outbox'] == []
    dns.ready()  # the next batch's before_batch (or the sender)
    assert not dns.spool.journal.exists()
    assert snapshot(hosts) == states[0]


def test_the_hook_path_is_untouched_outside_a_unit(
        dns_state: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside a unit of work (not the listener's batch) handle_batch
    goes one event at a time."""
    calls = SCRIPTED[0]
    expected, states = one_at_a_time([calls], dns_state('single'))
    hosts = dns_state('batched')
    batches: List[Optional[int]] = []
    monkeypatch.setattr(dns_service.DnsService, 'batch',
                        lambda self, events: batches.append(1))
    assert hooks.DnsHook.handle_batch(calls) == expected
    assert batches == [] and snapshot(hosts) == states[0]
