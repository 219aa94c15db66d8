"""The ledger's batch path (the listener's batches): the same decisions
(:func:`store.decide`) as one operation at a time, the state of every
instance read with one statement per table, written with one per table
and kind of write; each event isolated, the whole batch an error if its
write fails, and one event at a time while the spool has operations
waiting. On SQLite and PostgreSQL."""

import collections
import datetime
import random
import re
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest
import sqlalchemy as sa

from novahooks_core.hooks.event import NotifiedEvent
from novahooks_core.models import (
    BlockDevice,
    HookPoint,
    Instance,
    Outcome,
    Phase,
)
from novahooks_core.state import db
from novahooks_storage import hooks
from novahooks_storage import ledger as store
from novahooks_storage import service as storage_service
from tests.storage.conftest import Ledger

NOW = datetime.datetime(2026, 1, 2, 3, 4, 5)
#: An operation: (kind, uuid, project_id, host, devices).
Op = Tuple[str, str, Optional[str], Optional[str],
           Optional[Sequence[BlockDevice]]]
STAMPS = {'requested_at', 'built_at', 'deleted_at', 'recorded_at',
          'attached_at', 'fate_at'}


def volume(volume_id: str, delete: Optional[bool], size: int = 10,
           boot_index: Optional[int] = 0) -> BlockDevice:
    return BlockDevice(source_type='volume', destination_type='volume',
                       volume_id=volume_id, volume_size=size,
                       volume_type='ssd', boot_index=boot_index,
                       delete_on_termination=delete,
                       uuid='bdm-' + volume_id, device_name='/dev/vda')


def local(image: str) -> BlockDevice:
    return BlockDevice(source_type='image', destination_type='local',
                       image_id=image, boot_index=0, uuid='bdm-' + image)


# -- the decisions, as pure functions -------------------------------------


def test_a_lifecycle_decided_in_memory() -> None:
    decide = store.decide
    state, fated = decide(store.State(), 'requested', 'p', None,
                          [volume('v1', True)], NOW)
    assert fated == 0 and state.volumes == {}
    assert state.row == dict(project_id='p', host=None, state='requested',
                             requested_at=NOW, built_at=None,
                             deleted_at=None)
    assert [r['volume_id'] for r in state.mappings['requested']] == ['v1']
    later = NOW + datetime.timedelta(seconds=1)
    built, _ = decide(state, 'built', 'p', 'h1',
                      [volume('v1', True), volume('v2', None, 5),
                       local('img')], later)
    assert built.row is not None and built.row['state'] == 'built'
    assert built.row['requested_at'] == NOW and built.row['host'] == 'h1'
    assert set(built.mappings) == {'requested', 'built'}
    assert len(built.mappings['built']) == 3
    assert built.volumes == {
        'v1': dict(project_id='p', size_gb=10, volume_type='ssd',
                   delete_on_termination=True, fate='attached',
                   attached_at=later, fate_at=None),
        'v2': dict(project_id='p', size_gb=5, volume_type='ssd',
                   delete_on_termination=None, fate='attached',
                   attached_at=later, fate_at=None)}
    # Not told the devices (a notification without bdms): what is known
    # stays; a move changes the host.
    moved, _ = decide(built, 'built', 'p', 'h2', None, later)
    assert moved.volumes is built.volumes
    assert moved.mappings is built.mappings
    assert moved.row is not None and moved.row['host'] == 'h2'
    # Told at deletion: v2 now to be deleted with the instance, its
    # attachment time kept.
    deleting, _ = decide(moved, 'deleting', 'p', 'h2',
                         [volume('v1', True), volume('v2', True, 5)], later)
    assert deleting.volumes['v2']['delete_on_termination'] is True
    assert deleting.volumes['v2']['attached_at'] == later
    gone, fated = decide(deleting, 'deleted', 'p', None, None, later)
    assert fated == 2 and gone.row is not None
    assert gone.row['state'] == 'deleted' and gone.row['host'] == 'h2'
    assert {v: r['fate'] for v, r in gone.volumes.items()} == {
        'v1': 'deleted_with_instance', 'v2': 'deleted_with_instance'}
    again, fated = decide(gone, 'deleted', 'p', None, None, later)
    assert fated == 0 and again.volumes == gone.volumes
    # The state it was given is never changed.
    assert state.row['state'] == 'requested' and state.volumes == {}


def test_a_retained_volume_keeps_its_fate_when_told_again() -> None:
    kept, _ = store.decide(store.State(), 'built', 'p', 'h',
                            [volume('v', False)], NOW)
    kept, fated = store.decide(kept, 'deleted', 'p', None, None, NOW)
    assert fated == 1 and kept.volumes['v']['fate'] == 'retained'
    late, _ = store.decide(kept, 'deleting', 'p', 'h',
                            [volume('v', True)], NOW)
    assert late.volumes['v']['fate'] == 'retained'
    assert late.volumes['v']['delete_on_termination'] is True
    with pytest.raises(ValueError, match='unknown ledger operation'):
        store.decide(kept, 'typo', 'p', None, None, NOW)


# -- batched against one at a time, in the database -----------------------


def story(seed: int, instances: int, count: int) -> List[Op]:
    """Random operations on a few instances: creates, builds and moves
    (devices told or not), deletes (pre with or without devices, post),
    repeated ones, volumes kept or deleted with the instance."""
    chosen = random.Random(seed)
    ops: List[Op] = []
    for _ in range(count):
        n = chosen.randrange(instances)
        uuid = '00000000-0000-0000-0008-%012d' % n
        project = 'p%d' % (n % 3)
        devices: Optional[List[BlockDevice]] = [
            volume('vol-%d-%d' % (n, k), chosen.choice([True, False, None]),
                   size=chosen.choice([1, 2]), boot_index=k)
            for k in range(chosen.randrange(3))]
        if devices is not None and chosen.random() < 0.3:
            devices.append(local('img-%d' % n))
        if chosen.random() < 0.25:
            devices = None
        kind = chosen.choice(store.KINDS)
        if kind == 'requested' and devices is None:
            devices = []
        ops.append((kind, uuid, project, 'h%d' % chosen.randrange(3),
                    devices))
    return ops


def engine_of(found: Ledger) -> Any:
    storage = storage_service.service()
    storage.ensure_schema()
    return storage.engine


def empty(engine: Any) -> None:
    with engine.begin() as conn:
        for table in (store.mappings, store.volumes, store.instances):
            conn.execute(table.delete())


def snapshot(engine: Any) -> Dict[str, List[Tuple[Any, ...]]]:
    """Every row, its timestamps as whether they are set."""
    found = {}
    with engine.connect() as conn:
        for table in store.metadata.sorted_tables:
            found[table.name] = sorted(
                tuple((c.name, getattr(row, c.name) is not None
                       if c.name in STAMPS else getattr(row, c.name))
                      for c in table.c)
                for row in conn.execute(table.select()))
    return found


def one_at_a_time(engine: Any, ops: Sequence[Op]) -> None:
    for op in ops:
        with engine.begin() as conn:
            store.record(conn, *op)


def batched(engine: Any, ops: Sequence[Op], size: int,
            foresee: bool = True) -> None:
    for start in range(0, len(ops), size):
        chunk = ops[start:start + size]
        with engine.begin() as conn:
            batch = store.Batch(conn, [op[1] for op in chunk][
                :None if foresee else len(chunk) // 2])
            for op in chunk:
                batch.apply(*op)
            batch.write()


@pytest.mark.parametrize('seed', [1, 2, 3])
def test_batches_leave_what_one_at_a_time_leaves(
        ledger: Ledger, seed: int) -> None:
    engine = engine_of(ledger)
    before = story(seed + 100, 6, 30)   # a ledger already in use
    ops = story(seed, 8, 120)
    one_at_a_time(engine, before + ops)
    expected = snapshot(engine)
    assert expected['storage_instances'] and expected['storage_volumes']
    for size, foresee in ((1, True), (7, True), (40, False), (120, True)):
        empty(engine)
        one_at_a_time(engine, before)
        batched(engine, ops, size, foresee)
        assert snapshot(engine) == expected, (size, foresee)


@pytest.fixture
def statements() -> Iterator[List[str]]:
    """The SQL statements naming a storage table, as issued."""
    found: List[str] = []

    def count(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        named = re.search(r'storage_[a-z]+', statement)
        if named:
            found.append('%s %s' % (statement.split()[0], named.group()))
    sa.event.listen(sa.engine.Engine, 'before_cursor_execute', count)
    yield found
    sa.event.remove(sa.engine.Engine, 'before_cursor_execute', count)


def lifecycles(first: int, count: int) -> Tuple[List[Op], List[Op]]:
    """Instances created and built with a volume, a local disk and an
    unknown volume type; then moved, deleted (pre, post) and one more
    built told nothing."""
    up: List[Op] = []
    down: List[Op] = []
    for n in range(first, first + count):
        uuid = '00000000-0000-0000-0009-%012d' % n
        devices = [volume('v-%d' % n, n % 2 == 0), local('i-%d' % n)]
        up += [('requested', uuid, 'p', None, devices),
               ('built', uuid, 'p', 'h1', devices)]
        down += [('built', uuid, 'p', 'h2', None),
                 ('deleting', uuid, 'p', 'h2', devices),
                 ('deleted', uuid, 'p', None, None)]
    return up, down


def test_a_batch_issues_as_many_statements_for_100_instances_as_for_10(
        ledger: Ledger, statements: List[str]) -> None:
    engine = engine_of(ledger)
    counted = []
    for first, count in ((0, 10), (100, 100)):
        for ops in lifecycles(first, count):
            statements.clear()
            batched(engine, ops, len(ops))
            counted.append(collections.Counter(statements))
    small_up, small_down, large_up, large_down = counted
    assert small_up == large_up and small_down == large_down
    # Read instances and volumes; insert instances, mappings, volumes.
    assert sum(large_up.values()) == 6, large_up
    # Read both; update instances and volumes; replace mappings.
    assert sum(large_down.values()) == 6, large_down


def test_one_operation_writes_the_instance_before_reading(
        ledger: Ledger, statements: List[str]) -> None:
    """Hooks inside Nova: the instance's row (its lock) first, then its
    volumes read only when the operation decides about them; as many
    statements as before the batch path."""
    engine = engine_of(ledger)
    up, down = lifecycles(0, 1)
    found = []
    for op in up + down:
        statements.clear()
        with engine.begin() as conn:
            store.record(conn, *op)
        found.append(list(statements))
    requested, built, moved, deleting, deleted = found
    assert requested == ['UPDATE storage_instances',
                         'INSERT storage_instances',
                         'DELETE storage_mappings',
                         'INSERT storage_mappings']
    assert built == ['UPDATE storage_instances', 'SELECT storage_volumes',
                     'DELETE storage_mappings', 'INSERT storage_mappings',
                     'INSERT storage_volumes']
    assert moved == ['UPDATE storage_instances']   # devices not told
    # The volumes as built: nothing to update.
    assert deleting == ['UPDATE storage_instances', 'SELECT storage_volumes',
                        'DELETE storage_mappings', 'INSERT storage_mappings']
    assert deleted == ['UPDATE storage_instances', 'SELECT storage_volumes',
                       'UPDATE storage_volumes']


# -- through the hooks' batch path ----------------------------------------


def instance(n: int, host: str = 'h1') -> Instance:
    return Instance(uuid='00000000-0000-0000-000a-%012d' % n,
                    project_id='p', host=host)


def calls(n: int, devices: Optional[Tuple[BlockDevice, ...]]
          ) -> List[Tuple[Any, NotifiedEvent]]:
    """An instance's notifications as the listener hands them: create.end
    (create and build post), then delete.end (delete pre and post)."""
    found = instance(n)
    return [
        (hooks.StorageCreateInstance(), NotifiedEvent(
            HookPoint.CREATE_INSTANCE, Phase.POST, found,
            block_devices=devices)),
        (hooks.StorageBuildInstance(), NotifiedEvent(
            HookPoint.BUILD_INSTANCE, Phase.POST, found,
            block_devices=devices, result='active')),
        (hooks.StorageDeleteInstance(), NotifiedEvent(
            HookPoint.DELETE_INSTANCE, Phase.PRE, found,
            block_devices=devices)),
        (hooks.StorageDeleteInstance(), NotifiedEvent(
            HookPoint.DELETE_INSTANCE, Phase.POST, found,
            block_devices=devices))]


def in_a_unit(batch: Sequence[Tuple[Any, NotifiedEvent]]) -> List[Outcome]:
    """As the listener runs a batch: in a unit of work."""
    unit = db.Unit()
    with db.using(unit):
        found = hooks.StorageHook.handle_batch(batch)
    unit.commit()
    return list(found)


def test_each_event_is_isolated(ledger: Ledger,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """One event failing: an error, its instance's later events skipped,
    the other instances' recorded with the batch."""
    engine_of(ledger)
    bad = instance(2).uuid
    apply = store.Batch.apply

    def failing(self: store.Batch, kind: str, uuid: str, *args: Any
                ) -> int:
        if uuid == bad and kind == 'built':
            raise RuntimeError('a bug')
        return apply(self, kind, uuid, *args)
    monkeypatch.setattr(store.Batch, 'apply', failing)
    devices = (volume('v-1', False),)
    outcomes = in_a_unit(calls(1, devices) + calls(2, devices)
                         + calls(3, devices))
    assert outcomes == [Outcome.OK] * 4 + [
        Outcome.OK, Outcome.ERROR, Outcome.SKIPPED, Outcome.SKIPPED] + [
        Outcome.OK] * 4
    found = dict(ledger.rows('select uuid, state from storage_instances'))
    assert found == {instance(1).uuid: 'deleted', bad: 'requested',
                     instance(3).uuid: 'deleted'}
    assert sorted(ledger.rows('select instance_uuid, fate from '
                              'storage_volumes')) == sorted([
        (instance(1).uuid, 'retained'), (instance(3).uuid, 'retained')])


def test_a_batch_that_cannot_be_written_is_an_error_for_every_event(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    engine_of(ledger)

    def broken(*args: Any) -> None:
        raise sa.exc.OperationalError('INSERT', {}, Exception('disk full'))
    monkeypatch.setattr(store, '_write_volumes', broken)
    batch = calls(1, (volume('v-1', True),)) + calls(2, None)
    assert in_a_unit(batch) == [Outcome.ERROR] * len(batch)
    for table in ('instances', 'mappings', 'volumes'):
        assert ledger.rows('select count(*) from storage_%s' % table) == [
            (0,)]


def test_while_the_spool_waits_events_go_one_at_a_time_behind_it(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """An operation spooled while the database was unavailable: the next
    batch is handled one event at a time, each operation spooled behind
    it (a spool is never replayed inside the listener's unit of work,
    whose commit may fail); replayed outside it (as the listener does
    before each batch), all apply in order."""
    engine_of(ledger)
    storage = storage_service.service()
    first = instance(1)
    storage.spool.journal.append(storage_service.op(
        'built', str(first.uuid), 'p', [volume('v-old', True)], 'h0'))
    assert storage.waiting()

    def unused(*args: Any) -> None:
        raise AssertionError('batched while the spool waits')
    monkeypatch.setattr(store, 'Batch', unused)
    outcomes = in_a_unit(calls(1, (volume('v-1', False),)))
    assert outcomes == [Outcome.OK] * 4 and storage.spool.depth() == 5
    assert storage.replay_spool() == 0 and not storage.waiting()
    assert sorted(ledger.rows('select volume_id, fate from '
                              'storage_volumes')) == [
        ('v-1', 'retained'), ('v-old', 'deleted_with_instance')]
    monkeypatch.undo()
    outcomes = in_a_unit(calls(2, (volume('v-2', True),)))
    assert outcomes == [Outcome.OK] * 4
    assert ledger.rows("select fate from storage_volumes where "
                       "volume_id = 'v-2'") == [('deleted_with_instance',)]
