#!/usr/bin/env python3
"""Storage plugin: recording deletes against raw SQLAlchemy writes.

Prepares N instances (Nova 21 shapes from ``lifecycle.factories``), each
with one volume BDM (``delete_on_termination`` alternately True and
False), already built in a ledger (``ledger.record_built``, one
transaction, not timed). Then, each on a fresh copy of that ledger:

- plugin: ``delete_instance`` ``pre`` then ``post`` per instance, as Nova
  calls them, through ``novahooks_core.hooks.dispatch.DeleteInstance``
  with only the storage plugin enabled;
- raw per-instance: the rows a delete must leave (the ``at_delete``
  mapping, the instance marked deleted, the volume's fate) written with
  plain SQLAlchemy Core statements, one transaction per instance (the
  baseline);
- raw split: the same rows in two transactions per instance, as a hook's
  separate ``pre`` and ``post`` must (context);
- raw batched: the same rows, every instance in one transaction (context).

The raw variants use an engine made by ``novahooks_core.state.db`` like the
plugin's (same pool, same SQLite pragmas), so all have the same
durability settings. Prints deletes per second, the plugin's rate against
raw per-instance (its target in targets.py), what the plugin's rows
differ in, and where its time goes (passes leaving out the hook or the
database, and a cProfile pass). The ledger holds N instances, so costs
that grow with its size show. Asserts nothing on timings.

Usage: bench_storage.py [--instances N] [--quick] [--url URL] [--json]
"""

import argparse
import cProfile
import dataclasses
import json
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import alembic
import benchlib
from oslo_utils import timeutils
import sqlalchemy as sa
from sqlalchemy.engine import default as sa_default
import targets

from novahooks_core import config, normalize
from novahooks_core.containment import timing
from novahooks_core.hooks import dispatch
from novahooks_core.hooks.event import HookEvent
from novahooks_core.models import BlockDevice, HookPoint, Phase
from novahooks_core.state import db
from novahooks_core.testing import factories
from novahooks_storage import ledger, migrate
from novahooks_storage import service as storage_service

TARGET = targets.STORAGE_DELETE_RATIO
VERSION_TABLE = 'storage_alembic_version'
LEDGER_TABLES = [t.name for t in ledger.metadata.sorted_tables]
# Columns left out when comparing what the variants wrote: timestamps.
STAMPS = {'requested_at', 'built_at', 'deleted_at', 'recorded_at',
          'attached_at', 'fate_at'}


@dataclasses.dataclass
class Item:
    """One instance to delete: Nova's arguments and the rows it needs."""

    uuid: str
    project_id: str
    host: str
    args: Tuple[Any, ...]
    devices: Tuple[BlockDevice, ...]
    mapping_row: Dict[str, Any]   # the at_delete row, less recorded_at
    volume_id: str
    fate: str


def prepare(count: int) -> List[Item]:
    items = []
    for index in range(count):
        project = 'project-%02d' % (index % 40)
        host = 'compute-%02d' % (index % 25)
        inst = factories.instance(state='active', host=host,
                                  project_id=project,
                                  hostname='bench-%05d' % index)
        inst.task_state = 'deleting'
        dot = index % 2 == 0
        bdms = factories.bdm_list(factories.volume_bdm(
            delete_on_termination=dot, size=10 + 10 * (index % 5)))
        args, _ = factories.delete_instance_args(inst, bdms=bdms)
        devices = normalize.block_devices(bdms)
        device = devices[0]
        assert device.volume_id is not None
        row = {f: getattr(device, f) for f in ledger.MAPPING_FIELDS}
        row.update(instance_uuid=inst.uuid, phase='at_delete', position=0,
                   bdm_uuid=device.uuid)
        items.append(Item(inst.uuid, project, host, args, devices, row,
                          device.volume_id,
                          'deleted_with_instance' if dot else 'retained'))
    return items


def show_url(url: str) -> str:
    return repr(sa.engine.url.make_url(url))   # password hidden


def drop_ledger(engine: Any) -> None:
    ledger.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.text('DROP TABLE IF EXISTS %s' % VERSION_TABLE))


def existing_tables(url: str) -> List[str]:
    engine = sa.create_engine(url)
    try:
        names = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    return sorted(names & set(LEDGER_TABLES + [VERSION_TABLE]))


class Ledgers:
    """Fresh copies of one ledger where every instance is built.

    Default: a SQLite file made once and copied per variant. With
    ``url``: that database's ledger tables dropped and rebuilt per
    variant, then dropped at the end.
    """

    def __init__(self, directory: str, items: List[Item],
                 url: Optional[str]) -> None:
        self.directory = directory
        self.items = items
        self.url = url
        self.template = os.path.join(directory, 'template.sqlite')
        self.populate_seconds = 0.0
        if url is None:
            self.populate_seconds = self._populate(
                'sqlite:///' + self.template)

    def _populate(self, url: str) -> float:
        start = time.perf_counter()
        engine = db.engine('bench-prepare', url)
        if self.url is not None:
            drop_ledger(engine)
        migrate.upgrade(engine)
        with engine.begin() as conn:
            for item in self.items:
                ledger.record_built(conn, item.uuid, item.project_id,
                                    item.host, item.devices)
        db.reset()
        return time.perf_counter() - start

    def fresh(self, name: str) -> str:
        """The URL of a ledger as it was before any delete."""
        db.reset()
        if self.url is not None:
            self.populate_seconds = self._populate(self.url)
            return self.url
        path = os.path.join(self.directory, name + '.sqlite')
        source = sqlite3.connect(self.template)
        target = sqlite3.connect(path)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        return 'sqlite:///' + path

    def cleanup(self) -> None:
        db.reset()
        if self.url is not None:
            engine = sa.create_engine(self.url)
            try:
                drop_ledger(engine)
            finally:
                engine.dispose()


# -- the plugin ---------------------------------------------------------


def configure(state_dir: str, url: str) -> str:
    path = os.path.join(state_dir, 'novahooks.conf')
    with open(path, 'w') as stream:
        stream.write('[DEFAULT]\nenabled_plugins = storage\nstate_dir = %s\n'
                     '[storage]\ndatabase_url = %s\n' % (state_dir, url))
    config.reset()
    config.load(path)
    dispatch.reset()
    storage_service.reset()
    db.reset()
    timing.reset()
    return path


def warm_up(item: Item) -> float:
    """Load the handlers, the service and its engine, check the schema,
    compile the ledger's statements (rolled back): once per process in
    Nova, so not part of the timed deletes."""
    start = time.perf_counter()
    for phase in (Phase.PRE, Phase.POST):
        names = [type(h).__name__ for h in
                 dispatch.active_handlers(HookPoint.DELETE_INSTANCE, phase)]
        if names != ['StorageDeleteInstance']:
            raise SystemExit('delete_instance %s handlers: %s; expected the '
                             'storage plugin\'s (is novahooks installed with '
                             'its entry points?)' % (phase.value, names))
    service = storage_service.service()
    service.ensure_schema()
    warm_statements(service.engine, _ledger_delete, item)
    return time.perf_counter() - start


def run_plugin(items: List[Item]) -> float:
    """What Nova does around ``_delete_instance``, per instance."""
    start = time.perf_counter()
    for item in items:
        hook = dispatch.DeleteInstance()
        pre = hook.pre
        if pre:
            pre(*item.args)
        post = hook.post
        if post:
            post(None, *item.args)
    return time.perf_counter() - start


def plugin_checks(count: int) -> Dict[str, Any]:
    """Every handler call succeeded and nothing went to the spool (a
    failing write is logged, retried, spooled: never raised)."""
    stats = timing.snapshot()
    out: Dict[str, Any] = {}
    for phase in ('pre', 'post'):
        entry = stats.get('storage:delete_instance:%s' % phase)
        calls = entry.calls if entry else 0
        failed = (entry.errors + entry.bad_input) if entry else 0
        if calls != count or failed:
            raise SystemExit('plugin %s: %d calls, %d failed; expected %d '
                             'clean calls' % (phase, calls, failed, count))
        out['slow_%s_calls' % phase] = entry.slow if entry else 0
    spooled = storage_service.service().spooled()
    if spooled:
        raise SystemExit('plugin spooled %d writes: the ledger was '
                         'unavailable, timings are meaningless' % spooled)
    return out


# -- raw SQLAlchemy -------------------------------------------------------


def raw_engine(url: str) -> Any:
    """An engine made like the plugin's (pool, pragmas)."""
    return db.engine('bench-raw', url)


def _ledger_delete(conn: Any, item: Item) -> None:
    ledger.record_deleting(conn, item.uuid, item.project_id, item.host,
                           item.devices)
    ledger.record_deleted(conn, item.uuid, item.project_id)


def warm_statements(engine: Any, write: Callable[[Any, Item], None],
                    item: Item) -> None:
    """Connect, compile and cache ``write``'s statements, then roll them
    back: no variant pays first-use costs inside its timing."""
    with engine.connect() as conn:
        transaction = conn.begin()
        write(conn, item)
        transaction.rollback()


def _mark_deleted(conn: Any, item: Item, stamp: Any) -> None:
    instances, volumes = ledger.instances, ledger.volumes
    conn.execute(instances.update().where(
        instances.c.uuid == item.uuid).values(
        state='deleted', deleted_at=stamp))
    conn.execute(volumes.update().where(
        (volumes.c.volume_id == item.volume_id)
        & (volumes.c.instance_uuid == item.uuid)).values(
        fate=item.fate, fate_at=stamp))


def _raw_delete(conn: Any, item: Item) -> None:
    stamp = timeutils.utcnow()
    conn.execute(ledger.mappings.insert(),
                 dict(item.mapping_row, recorded_at=stamp))
    _mark_deleted(conn, item, stamp)


def run_raw(engine: Any, items: List[Item]) -> float:
    """One transaction per instance, as a hook has to."""
    start = time.perf_counter()
    for item in items:
        with engine.begin() as conn:
            _raw_delete(conn, item)
    return time.perf_counter() - start


def run_raw_split(engine: Any, items: List[Item]) -> float:
    """Two transactions per instance, split as the hook's phases are:
    the at_delete mapping (pre), then instance and fate (post)."""
    mappings = ledger.mappings
    start = time.perf_counter()
    for item in items:
        with engine.begin() as conn:
            conn.execute(mappings.insert(),
                         dict(item.mapping_row,
                              recorded_at=timeutils.utcnow()))
        with engine.begin() as conn:
            _mark_deleted(conn, item, timeutils.utcnow())
    return time.perf_counter() - start


def run_ledger(engine: Any, items: List[Item]) -> float:
    """The plugin's ledger functions alone, as its service calls them
    (one transaction per phase), without hooks or normalization."""
    start = time.perf_counter()
    for item in items:
        with engine.begin() as conn:
            ledger.record_deleting(conn, item.uuid, item.project_id,
                                   item.host, item.devices)
        with engine.begin() as conn:
            ledger.record_deleted(conn, item.uuid, item.project_id)
    return time.perf_counter() - start


def run_raw_batched(engine: Any, items: List[Item]) -> float:
    """Every instance in one transaction (executemany per table)."""
    instances, mappings, volumes = (ledger.instances, ledger.mappings,
                                    ledger.volumes)
    start = time.perf_counter()
    stamp = timeutils.utcnow()
    with engine.begin() as conn:
        conn.execute(mappings.insert(),
                     [dict(i.mapping_row, recorded_at=stamp) for i in items])
        conn.execute(
            instances.update().where(
                instances.c.uuid == sa.bindparam('b_uuid')).values(
                state='deleted', deleted_at=sa.bindparam('b_stamp')),
            [{'b_uuid': i.uuid, 'b_stamp': stamp} for i in items])
        conn.execute(
            volumes.update().where(
                (volumes.c.volume_id == sa.bindparam('b_volume'))
                & (volumes.c.instance_uuid == sa.bindparam('b_uuid'))).values(
                fate=sa.bindparam('b_fate'), fate_at=sa.bindparam('b_stamp')),
            [{'b_volume': i.volume_id, 'b_uuid': i.uuid, 'b_fate': i.fate,
              'b_stamp': stamp} for i in items])
    return time.perf_counter() - start


# -- what was written -----------------------------------------------------

Snapshot = Dict[str, Tuple[List[str], Dict[Tuple[Any, ...], Tuple[Any, ...]]]]


def snapshot(url: str) -> Snapshot:
    """Every ledger row without its timestamps, by primary key."""
    engine = sa.create_engine(url)
    out: Snapshot = {}
    try:
        with engine.connect() as conn:
            for table in ledger.metadata.sorted_tables:
                names = [c.name for c in table.c if c.name not in STAMPS]
                keys = [names.index(c.name) for c in table.primary_key]
                rows: Dict[Tuple[Any, ...], Tuple[Any, ...]] = {}
                for row in conn.execute(table.select()):
                    values = tuple(v for c, v in zip(table.c, row)
                                   if c.name not in STAMPS)
                    rows[tuple(values[k] for k in keys)] = values
                out[table.name] = (names, rows)
    finally:
        engine.dispose()
    return out


def expected_counts(items: List[Item]) -> Dict[str, int]:
    kept = sum(1 for i in items if i.fate == 'retained')
    return {'instances deleted': len(items),
            'at_delete mappings': len(items),
            'volumes deleted_with_instance': len(items) - kept,
            'volumes retained': kept}


def counts(snap: Snapshot) -> Dict[str, int]:
    def matching(table: str, column: str, value: str) -> int:
        names, rows = snap[table]
        index = names.index(column)
        return sum(1 for r in rows.values() if r[index] == value)
    return {'instances deleted': matching('storage_instances', 'state',
                                          'deleted'),
            'at_delete mappings': matching('storage_mappings', 'phase',
                                           'at_delete'),
            'volumes deleted_with_instance': matching(
                'storage_volumes', 'fate', 'deleted_with_instance'),
            'volumes retained': matching('storage_volumes', 'fate',
                                         'retained')}


def differences(mine: Snapshot, other: Snapshot) -> Dict[str, int]:
    """Rows per ``table.column`` whose values differ (timestamps aside)."""
    out: Dict[str, int] = {}
    for table, (names, rows) in mine.items():
        theirs = other[table][1]
        if set(rows) != set(theirs):
            out['%s (row set)' % table] = len(set(rows) ^ set(theirs))
        for key in set(rows) & set(theirs):
            for name, a, b in zip(names, rows[key], theirs[key]):
                if a != b:
                    label = '%s.%s' % (table, name)
                    out[label] = out.get(label, 0) + 1
    return out


def check_counts(label: str, items: List[Item], snap: Snapshot) -> None:
    found, wanted = counts(snap), expected_counts(items)
    if found != wanted:
        raise SystemExit('%s wrote %s; expected %s' % (label, found, wanted))


# -- where the plugin's time goes ---------------------------------------

def breakdown(found: benchlib.Attribution, count: int) -> Dict[str, Any]:
    """µs per delete (profiled, so inflated) by kind of work."""
    service = storage_service.StorageService
    lazy_fields = HookEvent.__dict__
    dialect = sa_default.DefaultDialect
    total = found.cumulative(run_plugin)
    normalizing = found.cumulative(lazy_fields['instance'].compute,
                                   lazy_fields['block_devices'].compute)
    building = found.cumulative(storage_service.op)
    write = found.cumulative(service.write)
    checks = found.cumulative(service.ensure_schema, service.replay_spool)
    apply = found.cumulative(service._apply)
    ledger_ct = found.called_by(
        benchlib.functions(ledger.record_deleting, ledger.record_deleted),
        benchlib.functions(service._apply))
    driver_execute = found.called_by(
        found.c_function(r"^<method 'execute"),
        benchlib.functions(dialect.do_execute, dialect.do_executemany))
    statements = found.calls(dialect.do_execute, dialect.do_executemany)
    commit = found.total(found.c_function(r"^<method 'commit'"))
    connections = (found.cumulative(dialect.connect, db._sqlite_pragmas)
                   + found.total(found.c_function(  # pooled: maybe none
                       r"^<method 'close' of .*onnection", required=False)))
    transaction = write - checks - apply
    parts = [
        ('hook machinery (dispatcher, event, guard, timing)',
         total - normalizing - building - write),
        ('normalization (instance + BDMs to models)', normalizing),
        ('op build + decode (to_primitive, BlockDevice(**d))',
         building + apply - ledger_ct),
        ('spool + schema checks per write', checks),
        ('ledger statements: SQLAlchemy Core (Python)',
         ledger_ct - driver_execute),
        ('ledger statements: DBAPI execute', driver_execute),
        ('transactions: SQLAlchemy (pool, begin, commit)',
         transaction - commit - connections),
        ('transactions: DBAPI connect + pragmas + close', connections),
        ('transactions: DBAPI commit', commit),
    ]
    scale = 1e6 / count
    return {
        'profiled_us_per_delete': round(total * scale, 1),
        'parts_us_per_delete': {name: round(value * scale, 1)
                                for name, value in parts},
        'statements_per_delete': round(statements / count, 2),
        'transactions_per_delete': round(found.calls(service.write) / count,
                                         2),
        'new_dbapi_connections_per_delete': round(
            found.calls(dialect.connect) / count, 2),
    }


def profile_plugin(items: List[Item], url: str, state_dir: str
                   ) -> Dict[str, Any]:
    configure(state_dir, url)
    warm_up(items[0])
    profiler = cProfile.Profile()
    profiler.enable()
    run_plugin(items)
    profiler.disable()
    plugin_checks(len(items))
    found = benchlib.Attribution(profiler)
    result = breakdown(found, len(items))
    result['top_by_own_time'] = found.top(len(items), per='delete')
    return result


def run_plugin_without_database(items: List[Item]) -> float:
    """The plugin with ``StorageService.write`` stubbed out: dispatcher,
    event, normalization, op building; no SQL. The service is warm."""
    original = storage_service.StorageService.write
    setattr(storage_service.StorageService, 'write',
            lambda self, op: 'recorded')
    try:
        return run_plugin(items)
    finally:
        setattr(storage_service.StorageService, 'write', original)


def attribution(items: List[Item], ledgers: Ledgers, state_dir: str,
                with_profile: bool) -> Dict[str, Any]:
    """Unprofiled passes that each leave a part out, then cProfile."""
    count = len(items)
    out: Dict[str, Any] = {'instances': count}
    us: Dict[str, float] = {}
    url = ledgers.fresh('ledger-only')
    engine = raw_engine(url)
    warm_statements(engine, _ledger_delete, items[0])
    us['ledger functions alone (2 transactions)'] = run_ledger(
        engine, items) * 1e6 / count
    check_counts('ledger functions', items, snapshot(url))
    url = ledgers.fresh('no-database')
    configure(state_dir, url)
    warm_up(items[0])
    us['plugin without database (write stubbed)'] = (
        run_plugin_without_database(items) * 1e6 / count)
    out['us_per_delete'] = {k: round(v, 1) for k, v in us.items()}
    if with_profile:
        out['profile'] = profile_plugin(items, ledgers.fresh('profile'),
                                        state_dir)
    return out


# -- the run --------------------------------------------------------------

PLUGIN = 'plugin (dispatcher pre + post)'
RAW = 'raw per-instance (1 transaction)'
RAW_SPLIT = 'raw split like pre/post (2 trans.)'
RAW_BATCHED = 'raw batched (1 transaction, all)'
VARIANTS = (RAW, PLUGIN, RAW_SPLIT, RAW_BATCHED)
FILES = {RAW: 'raw', PLUGIN: 'ledger', RAW_SPLIT: 'raw-split',
         RAW_BATCHED: 'raw-batched'}
RAW_RUNS: Dict[str, Callable[[Any, List[Item]], float]] = {
    RAW: run_raw, RAW_SPLIT: run_raw_split, RAW_BATCHED: run_raw_batched}


def environment(url: str) -> Dict[str, Any]:
    engine = db.engine('bench-raw', url)
    info: Dict[str, Any] = {
        'python': platform.python_version(),
        'executable': sys.executable,
        'sqlalchemy': sa.__version__, 'alembic': alembic.__version__,
        'database': show_url(url), 'pool': type(engine.pool).__name__}
    if engine.dialect.name == 'sqlite':
        info['sqlite'] = sqlite3.sqlite_version
        with engine.connect() as conn:
            for pragma in ('journal_mode', 'synchronous'):
                info[pragma] = conn.execute(
                    sa.text('PRAGMA %s' % pragma)).scalar()
    else:
        info['dialect'] = '%s+%s' % (engine.dialect.name,
                                     engine.dialect.driver)
    return info


def run_variant(name: str, items: List[Item], ledgers: Ledgers,
                state_dir: str, result: Dict[str, Any]
                ) -> Tuple[float, Snapshot]:
    """Time one variant on a fresh ledger; check and return its rows."""
    url = ledgers.fresh(FILES[name])
    result.setdefault('prepare_seconds', round(ledgers.populate_seconds, 2))
    if 'environment' not in result:
        result['environment'] = environment(url)
        if ledgers.url is None:
            result['environment']['database'] = (
                'sqlite:///%s/*.sqlite (a fresh copy per variant)'
                % ledgers.directory)
    if name == PLUGIN:
        configure(state_dir, url)
        warm_ms = round(warm_up(items[0]) * 1000, 1)
        result.setdefault('plugin_warm_up_ms', warm_ms)
        seconds = run_plugin(items)
        result['plugin_checks'] = plugin_checks(len(items))
    else:
        engine = raw_engine(url)
        warm_statements(engine, _raw_delete, items[0])
        seconds = RAW_RUNS[name](engine, items)
    rows = snapshot(url)
    check_counts(name, items, rows)
    return seconds, rows


def run(items: List[Item], url: Optional[str], detail_count: int,
        with_profile: bool, rounds: int) -> Dict[str, Any]:
    directory = tempfile.mkdtemp(prefix='novahooks-bench-storage-')
    state_dir = os.path.join(directory, 'state')
    os.makedirs(state_dir)
    count = len(items)
    result: Dict[str, Any] = {'instances': count}
    ledgers = Ledgers(directory, items, url)
    try:
        raw_rows: Optional[Snapshot] = None
        rounds_seconds: Dict[str, List[float]] = {}
        for _ in range(rounds):
            for name in VARIANTS:
                seconds_taken, rows = run_variant(name, items, ledgers,
                                                  state_dir, result)
                rounds_seconds.setdefault(name, []).append(seconds_taken)
                if raw_rows is None:   # RAW comes first
                    raw_rows = rows
                    continue
                diff = differences(rows, raw_rows)
                if name == PLUGIN:
                    result['plugin_rows_differ_from_raw'] = diff
                elif diff:
                    raise SystemExit('%s wrote other rows than %s: %s'
                                     % (name, RAW, diff))
        del raw_rows
        seconds = {k: min(v) for k, v in rounds_seconds.items()}
        result['rounds'] = rounds
        result['seconds_per_round'] = {
            k: [round(x, 3) for x in v] for k, v in rounds_seconds.items()}

        rates = {k: count / v for k, v in seconds.items()}
        base = rates[RAW]
        result['seconds'] = {k: round(v, 3) for k, v in seconds.items()}
        result['deletes_per_second'] = {k: round(v, 1)
                                        for k, v in rates.items()}
        result['us_per_delete'] = {k: round(v * 1e6 / count, 1)
                                   for k, v in seconds.items()}
        result['ratio_vs_raw_per_instance'] = {
            k: round(v / base, 3) for k, v in rates.items()}
        ratio = rates[PLUGIN] / base
        result['target'] = {'what': 'plugin deletes/s vs %s' % RAW,
                            'value': round(ratio, 3), 'target': TARGET.limit,
                            'met': TARGET.met(ratio),
                            'judged': TARGET.judged(ratio)}
        if detail_count:
            result['attribution'] = attribution(
                items[:detail_count], ledgers, state_dir, with_profile)
    finally:
        config.reset()
        storage_service.reset()
        dispatch.reset()
        ledgers.cleanup()
        shutil.rmtree(directory, ignore_errors=True)
    return result


def print_report(result: Dict[str, Any]) -> None:
    env = result['environment']
    print('Storage plugin: %d deletes (1 volume BDM each, every instance '
          'built beforehand) vs raw SQLAlchemy Core'
          % result['instances'])
    print('Python %s (%s), SQLAlchemy %s, alembic %s; %s; pool %s%s'
          % (env['python'], env['executable'], env['sqlalchemy'],
             env['alembic'], env['database'], env['pool'],
             '; SQLite %s, journal_mode=%s, synchronous=%s' % (
                 env['sqlite'], env['journal_mode'], env['synchronous'])
             if 'sqlite' in env else ''))
    print('untimed: ledger prepared in %.1f s; plugin warm-up (handlers, '
          'service, schema check) %.0f ms'
          % (result['prepare_seconds'], result['plugin_warm_up_ms']))
    if env['pool'] == 'NullPool':
        print('NullPool: every transaction of every variant opens a new '
              'DBAPI connection (and on SQLite runs the pragmas; closing '
              'the last one checkpoints the WAL): disk-bound, expect large '
              'run-to-run variation')
    if result['rounds'] > 1:
        print('best of %d rounds per variant' % result['rounds'])
    print()
    print('%-36s %9s %11s %11s %10s' % ('', 'seconds', 'deletes/s',
                                         'µs/delete', 'x raw'))
    for key, rate in result['deletes_per_second'].items():
        print('%-36s %9.2f %11.0f %11.1f %9.2fx' % (
            key, result['seconds'][key], rate, result['us_per_delete'][key],
            result['ratio_vs_raw_per_instance'][key]))
    target = result['target']
    print()
    print('%s: %.2fx (%s)' % (target['what'], target['value'],
                              target['judged']))
    diff = result['plugin_rows_differ_from_raw']
    print('plugin rows vs raw rows (timestamps aside): %s' % (
        'identical' if not diff else ', '.join(
            '%s differs in %d rows' % kv for kv in sorted(diff.items()))))
    slow = result['plugin_checks']
    if slow['slow_pre_calls'] or slow['slow_post_calls']:
        print('plugin calls over slow_hook_threshold_ms: %d pre, %d post'
              % (slow['slow_pre_calls'], slow['slow_post_calls']))
    detail = result.get('attribution')
    if not detail:
        return
    print()
    print('where the plugin\'s time goes (first %d instances, fresh ledger '
          'copies):' % detail['instances'])
    us = dict(detail['us_per_delete'])
    us['plugin, full (from the run above)'] = result['us_per_delete'][PLUGIN]
    us['raw split like pre/post (from above)'] = (
        result['us_per_delete'][RAW_SPLIT])
    for name, value in us.items():
        print('  %-44s %9.1f µs per delete' % (name, value))
    profile = detail.get('profile')
    if not profile:
        return
    print()
    print('cProfile of the plugin (profiling inflates Python-heavy parts; '
          'read shares): %.0f µs per delete'
          % profile['profiled_us_per_delete'])
    print('  %.2f SQL statements, %.2f transactions, %.2f new DBAPI '
          'connections per delete (raw per-instance: 3, 1, 0)' % (
              profile['statements_per_delete'],
              profile['transactions_per_delete'],
              profile['new_dbapi_connections_per_delete']))
    total = profile['profiled_us_per_delete'] or 1.0
    for name, value in profile['parts_us_per_delete'].items():
        print('  %-52s %8.1f µs %5.1f%%' % (name, value,
                                             100.0 * value / total))
    print()
    print('  %-52s %6s %9s %9s' % ('top by own time, per delete', 'calls',
                                    'own µs', 'cum µs'))
    for entry in profile['top_by_own_time']:
        name = entry['function']
        if len(name) > 52:
            name = '...' + name[-49:]
        print('  %-52s %6.2f %9.1f %9.1f' % (
            name, entry['calls_per_delete'], entry['own_us_per_delete'],
            entry['cumulative_us_per_delete']))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--instances', type=int, default=10000)
    parser.add_argument('--quick', action='store_true',
                        help='1000 instances (a smoke run)')
    parser.add_argument('--url', default=None,
                        help='SQLAlchemy URL to run against instead of a '
                             'temporary SQLite file (e.g. postgresql+'
                             'psycopg2://...); its storage_* tables are '
                             'created, rebuilt per variant and dropped')
    parser.add_argument('--replace-existing', action='store_true',
                        help='with --url: drop ledger tables already there '
                             '(refused otherwise)')
    parser.add_argument('--detail-instances', type=int, default=None,
                        help='instances in the attribution passes '
                             '(default: 2000, 500 with --quick; 0: none)')
    parser.add_argument('--no-profile', action='store_true',
                        help='attribution passes without cProfile')
    parser.add_argument('--rounds', type=int, default=1,
                        help='time each variant this many times (fresh '
                             'ledger each) and keep the best (default 1)')
    parser.add_argument('--json', action='store_true')
    opts = parser.parse_args(argv)
    count = 1000 if opts.quick else opts.instances
    detail = opts.detail_instances
    if detail is None:
        detail = 500 if opts.quick else 2000
    if opts.url:
        found = existing_tables(opts.url)
        if found and not opts.replace_existing:
            raise SystemExit('%s already has %s; the benchmark drops them: '
                             'pass --replace-existing if that is intended'
                             % (show_url(opts.url), ', '.join(found)))
    items = prepare(count)
    result = run(items, opts.url, min(detail, count),
                 not opts.no_profile, max(1, opts.rounds))
    if opts.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print_report(result)
    return 0


if __name__ == '__main__':
    sys.exit(main())
