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
import enum
import os
from typing import Any, Dict, Iterator, Optional, Tuple

import sqlalchemy as sa

from novahooks_core import db
from novahooks_core.notify.mapping import Notification

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


class Verdict(str, enum.Enum):
    """What a notification may do to one plugin's state."""

    RUN = 'run'
    STALE = 'stale'
    DUPLICATE = 'duplicate'
    DELETED = 'deleted'


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


def now() -> datetime.datetime:
    return datetime.datetime.utcnow()


class Held:
    """An instance's marks, read and written under its lock."""

    def __init__(self, conn: Any, uuid: str, found: Dict[str, Mark],
                 deleted: bool) -> None:
        self.conn = conn
        self.uuid = uuid
        self.marks = found
        self.deleted = deleted

    def verdict(self, plugin: str, note: Notification) -> Verdict:
        return verdict(self.marks.get(plugin), note, self.deleted)

    def tombstone(self) -> None:
        """Every plugin applied the instance's deletion."""
        self.conn.execute(instances.update().where(
            instances.c.uuid == self.uuid).values(deleted_at=now()))
        self.deleted = True

    def applied(self, plugin: str, note: Notification) -> None:
        """``plugin`` applied ``note``: its mark moves there."""
        stamp = now()
        deleted_at = stamp if note.deletes else None
        values: Dict[str, Any] = dict(
            updated_at=note.updated_at, sent_at=note.sent_at,
            message_id=note.message_id[:64] or None,
            event_type=note.event_type[:64], applied_at=stamp,
            deleted_at=deleted_at)
        if not self.conn.execute(marks.update().where(
                (marks.c.uuid == self.uuid)
                & (marks.c.plugin == plugin)).values(**values)).rowcount:
            self.conn.execute(marks.insert().values(
                uuid=self.uuid, plugin=plugin, **values))
        self.marks[plugin] = Mark(note.updated_at, note.sent_at,
                                  note.message_id, deleted_at)


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
        """The instance's marks, under its lock, for one transaction."""
        self.ensure_schema()
        with self.engine.begin() as conn:
            row = dict(uuid=uuid, created_at=now())
            if conn.dialect.name == 'postgresql':
                from sqlalchemy.dialects import postgresql
                conn.execute(postgresql.insert(instances).values(
                    **row).on_conflict_do_nothing())
            else:
                conn.execute(instances.insert().prefix_with(
                    'OR IGNORE').values(**row))
            # The lock: the instance's row (SQLite: the write lock).
            conn.execute(instances.update().where(
                instances.c.uuid == uuid).values(uuid=uuid))
            deleted = conn.execute(instances.select().where(
                instances.c.uuid == uuid)).first().deleted_at is not None
            found = {row.plugin: Mark(row.updated_at, row.sent_at,
                                      row.message_id or '', row.deleted_at)
                     for row in conn.execute(marks.select().where(
                         marks.c.uuid == uuid))}
            yield Held(conn, uuid, found, deleted)

    def prune(self) -> int:
        """Forget instances whose tombstones are older than the retention;
        returns how many marks went."""
        self.ensure_schema()
        before = now() - self.tombstone
        with self.engine.begin() as conn:
            gone = sorted({row.uuid for row in conn.execute(
                instances.select().where(instances.c.deleted_at < before))})
            if gone:
                conn.execute(marks.delete().where(marks.c.uuid.in_(gone)))
                conn.execute(instances.delete().where(
                    instances.c.uuid.in_(gone)))
            return len(gone)
