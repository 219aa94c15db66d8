"""The order guard: each instance's notifications take effect once, in
order, whatever the bus does.

RabbitMQ delivers at least once, a requeue reorders, and listeners of one
pool (and the workers of one listener) handle messages at the same time.
So the listener keeps, durably and shared by every listener on the same
``[listen] database_url``, for each instance and plugin the newest
notification that plugin applied: the payload's ``updated_at``, then the
envelope's timestamp, and its message id; and a tombstone once the plugin
applied the instance's ``instance.delete.end``. A notification is handled
under the instance's row lock (SQLite: the database's write lock), and for
each plugin it is

- applied when it is newer than (or as new as) the plugin's mark;
- skipped as *stale* when older, as a *duplicate* when it is the very
  message last applied, and as *deleted* after the tombstone: a late
  ``create.end`` or ``update`` never brings a deleted instance back.

Marks advance only for the plugins whose handlers succeeded, so a message
retried after one plugin failed has no second effect on the others.
Tombstones are kept ``[listen] tombstone_days`` (default 7), then pruned;
Searchlight's 300 s window let a delayed update resurrect a deletion.
"""

import contextlib
import dataclasses
import datetime
import json
import os
from typing import (
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
)

from oslo_utils import timeutils
import sqlalchemy as sa

from novahooks_core.models import Instance, NetworkInfo
from novahooks_core.notify import neutron
from novahooks_core.notify.facts import Fact, Verdict
from novahooks_core.notify.mapping import Notification
from novahooks_core.state import db

MIGRATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          'migrations')

metadata = sa.MetaData()

#: One row per instance: the lock its notifications are decided under,
#: and its tombstone once every plugin applied its deletion.
instances = sa.Table(
    'listen_instances', metadata,
    sa.Column('uuid', sa.String(36), primary_key=True),
    sa.Column('created_at', sa.DateTime, nullable=False),
    sa.Column('deleted_at', sa.DateTime),
)

#: Per instance and plugin: the newest notification applied, and whether
#: it was the instance's deletion.
marks = sa.Table(
    'listen_marks', metadata,
    sa.Column('uuid', sa.String(36), primary_key=True),
    sa.Column('plugin', sa.String(64), primary_key=True),
    sa.Column('updated_at', sa.DateTime),
    sa.Column('sent_at', sa.DateTime),
    sa.Column('message_id', sa.String(64)),
    sa.Column('event_type', sa.String(64), nullable=False),
    sa.Column('deleted_at', sa.DateTime, index=True),
    sa.Column('applied_at', sa.DateTime, nullable=False),
)

#: Neutron's floating IPs and ports (``[listen] neutron``), as the newest
#: notification about each told them (:class:`.neutron.Fact`); a deleted
#: one is kept as a tombstone. ``refresh``: the instances whose events are
#: still to be delivered for it (comma-separated; empty once done).
facts = sa.Table(
    'listen_facts', metadata,
    sa.Column('kind', sa.String(16), primary_key=True),
    sa.Column('id', sa.String(64), primary_key=True),
    sa.Column('revision', sa.Integer),
    sa.Column('updated_at', sa.DateTime),
    sa.Column('deleted', sa.Boolean, nullable=False, default=False),
    sa.Column('address', sa.String(64)),
    sa.Column('port_id', sa.String(64), index=True),
    sa.Column('fixed_ip', sa.String(64)),
    sa.Column('device_id', sa.String(64), index=True),
    sa.Column('device_owner', sa.String(255)),
    sa.Column('refresh', sa.Text),
    sa.Column('applied_at', sa.DateTime),
)

#: Per instance (``[listen] neutron``): the newest Nova notification
#: applied, as kept to retry it (no secrets): the instance Neutron's events
#: are applied to.
snapshots = sa.Table(
    'listen_snapshots', metadata,
    sa.Column('uuid', sa.String(36), primary_key=True),
    sa.Column('updated_at', sa.DateTime),
    sa.Column('sent_at', sa.DateTime),
    sa.Column('record', sa.Text, nullable=False),
)

#: A plugin's mark moved (executemany: one row per plugin).
_UPDATE_MARK = marks.update().where(
    (marks.c.uuid == sa.bindparam('b_uuid'))
    & (marks.c.plugin == sa.bindparam('b_plugin')))

#: A batch's reads and writes (:meth:`Guard.batch`), built once.
_MAKE_INSTANCES = instances.insert().prefix_with('OR IGNORE')
_DELETED_OF = instances.select().where(
    db.is_in(instances.c.uuid) & instances.c.deleted_at.isnot(None))
_MARKS_OF = marks.select().where(db.is_in(marks.c.uuid))
_INSERT_MARKS = marks.insert()
_TOMBSTONES = instances.update().where(
    instances.c.uuid == sa.bindparam('b_uuid')).values(
        deleted_at=sa.bindparam('deleted_at'))

_FACT_FIELDS = ('kind', 'id', 'revision', 'updated_at', 'deleted',
                'address', 'port_id', 'fixed_ip', 'device_id',
                'device_owner')


def _fact(row: Any) -> Fact:
    return Fact(**{name: getattr(row, name) for name in _FACT_FIELDS})


@dataclasses.dataclass(frozen=True)
class Mark:
    """The newest notification a plugin applied for an instance."""

    updated_at: Optional[datetime.datetime]
    sent_at: Optional[datetime.datetime]
    message_id: str
    deleted_at: Optional[datetime.datetime] = None


_EARLIEST = datetime.datetime.min


def order(updated_at: Optional[datetime.datetime],
          sent_at: Optional[datetime.datetime]
          ) -> Tuple[datetime.datetime, datetime.datetime]:
    """The key notifications of one instance are ordered by."""
    return (updated_at or _EARLIEST, sent_at or _EARLIEST)


def verdict(mark: Optional[Mark], note: Notification,
            deleted: bool = False) -> Verdict:
    """Whether ``note`` may take effect on a plugin whose mark for the
    instance is ``mark`` (``deleted``: the instance's tombstone is there,
    every plugin applied its deletion): a pure function."""
    if mark is not None and note.message_id and (
            note.message_id == mark.message_id):
        return Verdict.DUPLICATE
    if deleted or (mark is not None and mark.deleted_at is not None):
        return Verdict.DELETED
    if mark is None:
        return Verdict.RUN
    if order(note.updated_at, note.sent_at) < order(mark.updated_at,
                                                     mark.sent_at):
        return Verdict.STALE
    return Verdict.RUN



class Held:
    """An instance's marks, read and written under its lock.

    Alone (:meth:`Guard.instance`) its writes go to the database at once;
    in a batch (:meth:`Guard.batch`) they are gathered in ``pending`` and
    written with the batch's other instances' (:meth:`HeldBatch.write`).
    """

    def __init__(self, conn: Any, uuid: str, found: Dict[str, Mark],
                 deleted: bool,
                 pending: Optional['_PendingMarks'] = None) -> None:
        self.conn = conn
        self.uuid = uuid
        self.marks = found
        self.deleted = deleted
        self.pending = pending

    def verdict(self, plugin: str, note: Notification) -> Verdict:
        return verdict(self.marks.get(plugin), note, self.deleted)

    def tombstone(self) -> None:
        """Every plugin applied the instance's deletion."""
        if self.pending is not None:
            self.pending.tombstones.append(self.uuid)
        else:
            self.conn.execute(instances.update().where(
                instances.c.uuid == self.uuid).values(
                    deleted_at=timeutils.utcnow()))
        self.deleted = True

    def applied(self, plugins: Sequence[str], note: Notification) -> None:
        """These plugins applied ``note``: their marks move there (one
        statement for the marks there were, one for the new ones)."""
        if not plugins:
            return
        stamp = timeutils.utcnow()
        deleted_at = stamp if note.deletes else None
        values: Dict[str, Any] = dict(
            updated_at=note.updated_at, sent_at=note.sent_at,
            message_id=note.message_id[:64] or None,
            event_type=note.event_type[:64], applied_at=stamp,
            deleted_at=deleted_at)
        if self.pending is not None:
            for plugin in plugins:
                self.pending.moved[(self.uuid, plugin)] = values
        else:
            known = [p for p in plugins if p in self.marks]
            new = [p for p in plugins if p not in self.marks]
            if known:
                self.conn.execute(_UPDATE_MARK, [
                    dict(values, b_uuid=self.uuid, b_plugin=p)
                    for p in known])
            if new:
                self.conn.execute(marks.insert(), [
                    dict(values, uuid=self.uuid, plugin=p) for p in new])
        for plugin in plugins:
            self.marks[plugin] = Mark(note.updated_at, note.sent_at,
                                      note.message_id, deleted_at)

    def snapshot(self) -> Optional[Dict[str, Any]]:
        """The newest Nova notification kept for the instance."""
        row = self.conn.execute(snapshots.select().where(
            snapshots.c.uuid == self.uuid)).first()
        return json.loads(row.record) if row is not None else None

    def keep_snapshot(self, note: Notification,
                      record: Mapping[str, Any]) -> None:
        """Keep ``record`` (``note``'s message) as the instance's newest
        Nova notification, unless a newer one is kept."""
        row = self.conn.execute(snapshots.select().where(
            snapshots.c.uuid == self.uuid)).first()
        values = dict(updated_at=note.updated_at, sent_at=note.sent_at,
                      record=json.dumps(record, sort_keys=True, default=str))
        if row is None:
            self.conn.execute(snapshots.insert().values(
                uuid=self.uuid, **values))
        elif order(note.updated_at, note.sent_at) >= order(row.updated_at,
                                                           row.sent_at):
            self.conn.execute(snapshots.update().where(
                snapshots.c.uuid == self.uuid).values(**values))

    def with_floating(self, instance: Instance) -> NetworkInfo:
        """The instance's network info with the floating IPs kept for its
        ports."""
        network = instance.network_info or NetworkInfo()
        return neutron.overlay(network, self.floating(
            [vif.id or '' for vif in network.vifs]))

    def floating(self, port_ids: Sequence[str]) -> List[Fact]:
        """The live floating IPs associated with these ports (a deleted
        port holds none)."""
        ports = [p for p in port_ids if p]
        if not ports:
            return []
        gone = {row.id for row in self.conn.execute(facts.select().where(
            (facts.c.kind == 'port') & facts.c.id.in_(ports)
            & facts.c.deleted))}
        return [_fact(row) for row in self.conn.execute(
            facts.select().where(
                (facts.c.kind == 'floatingip') & facts.c.port_id.in_(ports)
                & ~facts.c.deleted & facts.c.applied_at.isnot(None))
            .order_by(facts.c.id)) if row.port_id not in gone]


@dataclasses.dataclass
class _PendingMarks:
    """A batch's mark and tombstone writes, gathered."""

    #: The newest values of each (instance, plugin) mark that moved.
    moved: Dict[Tuple[str, str], Dict[str, Any]] = dataclasses.field(
        default_factory=dict)
    tombstones: List[str] = dataclasses.field(default_factory=list)


class HeldBatch:
    """The marks of a batch's instances, read at once under their locks;
    each instance's :class:`Held` moves them in memory, and :meth:`write`
    stores every move with one statement per kind of write."""

    def __init__(self, conn: Any, found: Dict[str, Dict[str, Mark]],
                 deleted: Iterable[str], existing: Iterable[Tuple[str, str]]
                 ) -> None:
        self.conn = conn
        self.pending = _PendingMarks()
        gone = set(deleted)
        self._existing = set(existing)
        self._held = {uuid: Held(conn, uuid, marks_of, uuid in gone,
                                 self.pending)
                      for uuid, marks_of in found.items()}

    def held(self, uuid: str) -> Held:
        """The instance's marks (one of the batch's instances)."""
        return self._held[uuid]

    def write(self) -> None:
        """Store the moved marks (one UPDATE and one INSERT, each with a
        row per mark) and the tombstones (one UPDATE)."""
        moved = self.pending.moved
        update = [dict(values, b_uuid=uuid, b_plugin=plugin)
                  for (uuid, plugin), values in moved.items()
                  if (uuid, plugin) in self._existing]
        insert = [dict(values, uuid=uuid, plugin=plugin)
                  for (uuid, plugin), values in moved.items()
                  if (uuid, plugin) not in self._existing]
        if update:
            self.conn.execute(_UPDATE_MARK, update)
        if insert:
            self.conn.execute(_INSERT_MARKS, insert)
        if self.pending.tombstones:
            db.execute(self.conn, _TOMBSTONES, [
                dict(b_uuid=uuid, deleted_at=timeutils.utcnow())
                for uuid in dict.fromkeys(self.pending.tombstones)])
        self._existing.update(moved)
        self.pending = _PendingMarks()
        for held in self._held.values():
            held.pending = self.pending


class HeldFact:
    """A floating IP's or port's kept fact, under its row lock."""

    def __init__(self, conn: Any, kind: str, ident: str,
                 known: Optional[Fact], refresh: Tuple[str, ...]) -> None:
        self.conn = conn
        self.kind = kind
        self.id = ident
        self.known = known
        #: Instances whose events are still to be delivered for it.
        self.refresh = refresh

    def keep(self, fact: Fact, refresh: Iterable[str]) -> None:
        """``fact`` replaces the kept one; ``refresh``: the instances to
        deliver events to for it."""
        self.refresh = tuple(dict.fromkeys(refresh))
        self.conn.execute(facts.update().where(
            (facts.c.kind == self.kind) & (facts.c.id == self.id)).values(
            **{name: getattr(fact, name) for name in _FACT_FIELDS[2:]},
            refresh=','.join(self.refresh), applied_at=timeutils.utcnow()))
        self.known = fact


def _locked_row(conn: Any, table: sa.Table, where: Any,
                row: Mapping[str, Any]) -> Any:
    """The row of ``table`` at ``where`` (inserted as ``row`` when missing),
    locked for the transaction (SQLite: the database's write lock)."""
    if conn.dialect.name == 'postgresql':
        from sqlalchemy.dialects import postgresql
        conn.execute(postgresql.insert(table).values(
            **row).on_conflict_do_nothing())
    else:
        conn.execute(table.insert().prefix_with('OR IGNORE').values(**row))
    first = next(iter(row))
    conn.execute(table.update().where(where).values(**{first: row[first]}))
    return conn.execute(table.select().where(where)).first()


class Guard:
    """The order guard on ``engine`` (created, and migrated, lazily)."""

    def __init__(self, engine: Any, tombstone_days: float = 7.0) -> None:
        self.engine = engine
        self.tombstone = datetime.timedelta(days=tombstone_days)
        self.schema = db.Schema(engine, MIGRATIONS, 'listen_alembic_version')

    def ensure_schema(self) -> None:
        self.schema.ensure()

    @contextlib.contextmanager
    def instance(self, uuid: str) -> Iterator[Held]:
        """The instance's marks, under its lock, for one transaction (a
        savepoint in the current :class:`~novahooks_core.state.db.Unit`)."""
        self.ensure_schema()
        with db.begin(self.engine) as conn:
            deleted = _locked_row(
                conn, instances, instances.c.uuid == uuid,
                dict(uuid=uuid, created_at=timeutils.utcnow())
            ).deleted_at is not None
            found = {row.plugin: Mark(row.updated_at, row.sent_at,
                                      row.message_id or '', row.deleted_at)
                     for row in conn.execute(marks.select().where(
                         marks.c.uuid == uuid))}
            yield Held(conn, uuid, found, deleted)

    @contextlib.contextmanager
    def batch(self, uuids: Iterable[str]) -> Iterator[HeldBatch]:
        """The marks of these instances, under their locks (taken at once,
        in one order: :meth:`lock`), read with one statement per table and
        written when the block ends without an exception
        (:meth:`HeldBatch.write`), in the current unit of work."""
        wanted = sorted(set(uuids))
        self.ensure_schema()
        with db.begin(self.engine) as conn:
            stamp = timeutils.utcnow()
            if conn.dialect.name == 'postgresql':
                self._lock_rows(conn, wanted)
            elif wanted:
                conn.execute(_MAKE_INSTANCES, [
                    dict(uuid=uuid, created_at=stamp) for uuid in wanted])
            found: Dict[str, Dict[str, Mark]] = {u: {} for u in wanted}
            deleted = [row.uuid for row in db.rows_in(
                conn, _DELETED_OF, wanted)]
            existing: List[Tuple[str, str]] = []
            for row in db.rows_in(conn, _MARKS_OF, wanted):
                found[row.uuid][row.plugin] = Mark(
                    row.updated_at, row.sent_at, row.message_id or '',
                    row.deleted_at)
                existing.append((row.uuid, row.plugin))
            held = HeldBatch(conn, found, deleted, existing)
            yield held
            held.write()

    @contextlib.contextmanager
    def fact(self, kind: str, ident: str) -> Iterator[HeldFact]:
        """A floating IP's or port's kept fact, under its row lock, for one
        transaction (a savepoint in the current unit)."""
        self.ensure_schema()
        with db.begin(self.engine) as conn:
            ident = ident[:64]
            found = _locked_row(
                conn, facts, (facts.c.kind == kind) & (facts.c.id == ident),
                dict(kind=kind, id=ident, deleted=False))
            yield HeldFact(conn, kind, ident[:64],
                           _fact(found) if found.applied_at else None,
                           tuple(u for u in (found.refresh or '').split(',')
                                 if u))

    def lock(self, uuids: Iterable[str]) -> None:
        """Take these instances' locks at once, in one order, for the
        current unit of work: listeners sharing a PostgreSQL database then
        never wait on each other in a cycle (SQLite: the first write takes
        the database's lock anyway)."""
        if self.engine.dialect.name != 'postgresql':
            return
        wanted = sorted(set(uuids))
        if not wanted:
            return
        self.ensure_schema()
        with db.begin(self.engine) as conn:
            self._lock_rows(conn, wanted)

    @staticmethod
    def _lock_rows(conn: Any, wanted: Sequence[str]) -> None:
        """PostgreSQL: the rows of these (sorted) instances, made when
        missing, locked in their order."""
        if not wanted:
            return
        from sqlalchemy.dialects import postgresql
        stamp = timeutils.utcnow()
        conn.execute(postgresql.insert(instances).values([
            dict(uuid=uuid, created_at=stamp) for uuid in wanted
        ]).on_conflict_do_nothing())
        conn.execute(instances.select().where(
            instances.c.uuid.in_(wanted)).order_by(
            instances.c.uuid).with_for_update())

    def seed(self, found: Iterable[Fact]) -> List[bool]:
        """Keep facts no notification told yet (an ``openstack floating ip
        list``); one flag per fact: kept, or not (a fact is known)."""
        kept = []
        for fact in found:
            with self.fact(fact.kind, fact.id) as held:
                kept.append(held.known is None)
                if held.known is None:
                    held.keep(fact, ())
        return kept

    def refreshed(self, kind: str, ident: str, done: Iterable[str]) -> None:
        """The events of these instances were delivered for the fact."""
        done = set(done)
        with self.fact(kind, ident) as held:
            if held.known is not None and set(held.refresh) & done:
                held.keep(held.known, [u for u in held.refresh
                                       if u not in done])

    def prune(self) -> int:
        """Forget instances whose tombstones are older than the retention
        (and deleted floating IPs and ports); returns how many instances
        went."""
        self.ensure_schema()
        before = timeutils.utcnow() - self.tombstone
        with self.engine.begin() as conn:
            gone = sorted({row.uuid for row in conn.execute(
                instances.select().where(instances.c.deleted_at < before))})
            if gone:
                conn.execute(marks.delete().where(marks.c.uuid.in_(gone)))
                conn.execute(snapshots.delete().where(
                    snapshots.c.uuid.in_(gone)))
                conn.execute(instances.delete().where(
                    instances.c.uuid.in_(gone)))
            old = facts.c.deleted & (facts.c.applied_at < before)
            if conn.execute(facts.select().where(old).limit(1)).first():
                conn.execute(facts.delete().where(old))
            return len(gone)
