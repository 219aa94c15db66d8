"""The DNS plugin's durable state: outbox, applied records, instances.

Every change is written to the outbox before it is sent; a record moves to
``dns_applied`` only after the server confirmed it. What an instance
"has" is the applied set with its pending changes replayed in order.

Records are owned per instance: two instances may hold the same record
(a name or an address reused before the old instance's records went).
An instance that lets go of a record another instance still holds queues
a ``forget``: its ownership ends without the record leaving the server.
Each instance's changes are decided under its row lock in
``dns_instances`` (:func:`lock_instance`), so processes sharing one
database decide one after the other.
"""

import datetime
import functools
from typing import (
    Any,
    Container,
    Dict,
    FrozenSet,
    Iterable,
    List,
    Optional,
    Sequence,
    Tuple,
)

from oslo_utils import timeutils
import sqlalchemy as sa

from novahooks_core.state import db
from novahooks_dns.records import Record

metadata = sa.MetaData()

outbox = sa.Table(
    'dns_outbox', metadata,
    sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
    sa.Column('instance_uuid', sa.String(36), nullable=False, index=True),
    sa.Column('op', sa.String(6), nullable=False),
    sa.Column('zone', sa.String(255), nullable=False),
    sa.Column('name', sa.String(255), nullable=False),
    sa.Column('rtype', sa.String(8), nullable=False),
    sa.Column('value', sa.String(255), nullable=False),
    sa.Column('ttl', sa.Integer, nullable=False),
    sa.Column('created_at', sa.DateTime, nullable=False),
    sa.Column('attempts', sa.Integer, nullable=False, default=0),
    sa.Column('next_attempt_at', sa.DateTime, nullable=False, index=True),
    sa.Column('last_error', sa.String(500)),
    # A sender working on the change (several processes share the outbox).
    sa.Column('claimed_by', sa.String(36)),
    sa.Column('claimed_until', sa.DateTime),
    sqlite_autoincrement=True,  # never reuse the id of a sent change
)

applied = sa.Table(
    'dns_applied', metadata,
    sa.Column('zone', sa.String(255), primary_key=True),
    sa.Column('name', sa.String(255), primary_key=True),
    sa.Column('rtype', sa.String(8), primary_key=True),
    sa.Column('value', sa.String(255), primary_key=True),
    sa.Column('instance_uuid', sa.String(36), primary_key=True, index=True),
    sa.Column('ttl', sa.Integer, nullable=False),
    sa.Column('applied_at', sa.DateTime, nullable=False),
)

#: Outbox operations: ``forget`` ends an instance's ownership of a record
#: that another instance still holds; nothing is sent for it.
ADD, DELETE, FORGET = 'add', 'delete', 'forget'

Key = Tuple[str, str, str, str]

instances = sa.Table(
    'dns_instances', metadata,
    sa.Column('uuid', sa.String(36), primary_key=True),
    sa.Column('name', sa.String(255)),
    sa.Column('project_id', sa.String(64)),
    sa.Column('created_at', sa.DateTime, nullable=False),
    sa.Column('deleted_at', sa.DateTime),
    #: The network info the records were last decided from (JSON).
    sa.Column('network_json', sa.Text),
)



def record_of(row: Any) -> Record:
    return Record(row.zone, row.name, row.rtype, row.value, row.ttl)


def key_of(record: Any) -> Key:
    return (record.zone, record.name, record.rtype, record.value)


# Statements of the hook path, built once (see db.execute).
_p = sa.bindparam
_MAKE_INSTANCE = instances.insert().prefix_with('OR IGNORE').values(
    uuid=_p('v_uuid'), created_at=_p('v_created_at'))
_INSTANCE = instances.select().where(instances.c.uuid == _p('k_uuid'))
_LOCKED_INSTANCE = _INSTANCE.with_for_update()
_KEEP_NETWORK = instances.update().where(
    instances.c.uuid == _p('k_uuid')).values(network_json=_p('v_network'))
_REMEMBER = instances.update().where(instances.c.uuid == _p('k_uuid')).values(
    name=_p('v_name'), project_id=_p('v_project_id'),
    created_at=_p('v_created_at'), deleted_at=None)
_FORGET = instances.update().where(instances.c.uuid == _p('k_uuid')).values(
    deleted_at=_p('v_deleted_at'))
_APPLIED_OF = applied.select().where(applied.c.instance_uuid == _p('k_uuid'))
_PENDING_OF = outbox.select().where(
    outbox.c.instance_uuid == _p('k_uuid')).order_by(outbox.c.id)
_APPLIED_TO_OTHERS = applied.select().where(
    applied.c.name.in_(_p('k_names', expanding=True))
    & (applied.c.instance_uuid != _p('k_uuid')))
_PENDING_FOR_OTHERS = outbox.select().where(
    outbox.c.name.in_(_p('k_names', expanding=True))
    & (outbox.c.instance_uuid != _p('k_uuid'))).order_by(outbox.c.id)
_QUEUE = outbox.insert()
_MAKE_INSTANCES = instances.insert()
_POSTPONE = outbox.update().where(
    (outbox.c.id == _p('k_id')) & (outbox.c.claimed_by == _p('k_token'))
).values(attempts=_p('v_attempts'), last_error=_p('v_error'),
         next_attempt_at=_p('v_next'), claimed_by=None, claimed_until=None)
_UPDATE_INSTANCE = instances.update().where(
    instances.c.uuid == _p('k_uuid')).values(
    name=_p('v_name'), project_id=_p('v_project_id'),
    created_at=_p('v_created_at'), deleted_at=_p('v_deleted_at'),
    network_json=_p('v_network_json'))


@functools.lru_cache(maxsize=None)
def _make_instance(dialect: str) -> Any:
    if dialect != 'postgresql':
        return _MAKE_INSTANCE
    from sqlalchemy.dialects import postgresql
    return postgresql.insert(instances).values(
        uuid=_p('v_uuid'), created_at=_p('v_created_at')
    ).on_conflict_do_nothing()


def lock_instance(conn: Any, uuid: str) -> Optional[Any]:
    """Take the instance's row lock for the rest of the transaction, its
    row made if missing: the row it had, or ``None`` if it had none (this
    database held no state for it). The first statement is a write, so
    SQLite's write lock is held from here too."""
    made = db.execute(conn, _make_instance(conn.dialect.name), {
        'v_uuid': uuid, 'v_created_at': timeutils.utcnow()}).rowcount
    if made:
        return None
    return db.execute(conn, _LOCKED_INSTANCE, {'k_uuid': uuid}).first()


def keep_network(conn: Any, uuid: str, network_json: str) -> None:
    """Remember what the instance's records were decided from (its row
    exists: :func:`lock_instance`)."""
    db.execute(conn, _KEEP_NETWORK, {'k_uuid': uuid,
                                     'v_network': network_json})


def is_tracked(conn: Any, uuid: str) -> bool:
    """Whether this database holds state for the instance (it was synced
    or remembered here)."""
    return db.execute(conn, _INSTANCE, {'k_uuid': uuid}).first() is not None


def replay(have: Iterable[Record], pending: Iterable[Any]
           ) -> FrozenSet[Record]:
    """Records ``have`` (applied) with the ``pending`` changes (outbox
    rows, oldest first) replayed: what an instance has."""
    found = set(have)
    for row in pending:
        (found.add if row.op == ADD else found.discard)(record_of(row))
    return frozenset(found)


def effective(conn: Any, instance_uuid: str) -> FrozenSet[Record]:
    """Applied records of an instance with its pending changes replayed."""
    params = {'k_uuid': instance_uuid}
    have = {record_of(r) for r in db.execute(conn, _APPLIED_OF, params)}
    return replay(have, db.execute(conn, _PENDING_OF, params))


def holding(applied_rows: Iterable[Any], pending: Iterable[Any]
            ) -> Dict[Tuple[str, Key], bool]:
    """Whether each (instance, record key) of these rows is held: applied,
    or pending as an add (its last pending change, oldest first, decides).
    """
    held: Dict[Tuple[str, Key], bool] = {}
    for row in applied_rows:
        held[(row.instance_uuid, key_of(row))] = True
    for row in pending:
        held[(row.instance_uuid, key_of(row))] = row.op == ADD
    return held


def shared(records: Iterable[Record],
           taken: Container[Key]) -> FrozenSet[Record]:
    """Those of ``records`` whose key another instance holds
    (``taken``)."""
    wanted = {key_of(r): r for r in records}
    return frozenset(r for key, r in wanted.items() if key in taken)


def held_by_others(conn: Any, instance_uuid: str,
                   records: Iterable[Record]) -> FrozenSet[Record]:
    """Those of ``records`` that another instance holds (applied, or
    pending as an add), whatever their TTL."""
    wanted = {key_of(r): r for r in records}
    if not wanted:
        return frozenset()
    params = {'k_names': sorted({key[1] for key in wanted}),
              'k_uuid': instance_uuid}
    applied_rows = list(db.execute(conn, _APPLIED_TO_OTHERS, params))
    held = holding(applied_rows,
                   db.execute(conn, _PENDING_FOR_OTHERS, params))
    taken = {key for (_, key), holds in held.items() if holds}
    return shared(wanted.values(), taken)


def queue_rows(instance_uuid: str, adds: Iterable[Record],
               deletes: Iterable[Record], forgets: Iterable[Record],
               stamp: datetime.datetime) -> List[Dict[str, Any]]:
    """The outbox rows of an instance's changes: deletes and forgets,
    then adds."""
    return [dict(instance_uuid=instance_uuid, op=op, zone=r.zone,
                 name=r.name, rtype=r.rtype, value=r.value, ttl=r.ttl,
                 created_at=stamp, attempts=0, next_attempt_at=stamp)
            for op, records in ((DELETE, sorted(deletes)),
                                (FORGET, sorted(forgets)),
                                (ADD, sorted(adds)))
            for r in records]


def enqueue(conn: Any, instance_uuid: str, adds: Iterable[Record],
            deletes: Iterable[Record],
            forgets: Iterable[Record] = ()) -> int:
    """Queue deletes and forgets, then adds, for an instance; returns how
    many."""
    rows = queue_rows(instance_uuid, adds, deletes, forgets,
                      timeutils.utcnow())
    if rows:
        conn.execute(_QUEUE, rows)
    return len(rows)


def release_records(conn: Any, instance_uuid: str,
                    records: Iterable[Record]) -> Tuple[int, int]:
    """Queue the removal of ``records`` from an instance: a delete for
    those no other instance holds, a forget for the others. Returns
    (deleted, forgotten)."""
    records = frozenset(records)
    shared = held_by_others(conn, instance_uuid, records)
    enqueue(conn, instance_uuid, (), records - shared, shared)
    return len(records - shared), len(shared)


# -- the listener's batch: many instances read and written at once -------

# A batch's reads (one statement per table and chunk), built once.
_LOCK_INSTANCES = instances.select().where(
    db.is_in(instances.c.uuid)).order_by(instances.c.uuid).with_for_update()
_PENDING_IN = outbox.select().where(
    db.is_in(outbox.c.instance_uuid)).order_by(outbox.c.id)
_APPLIED_IN = applied.select().where(db.is_in(applied.c.instance_uuid))
_APPLIED_NAMED = applied.select().where(db.is_in(applied.c.name))
_PENDING_NAMED = outbox.select().where(
    db.is_in(outbox.c.name)).order_by(outbox.c.id)


def _sorted(items: Iterable[str]) -> List[str]:
    """Distinct ``items``, sorted (read in :func:`db.chunks`)."""
    return sorted(set(items))


def lock_instances(conn: Any, uuids: Sequence[str]) -> List[Any]:
    """The rows these instances have (an instance without one has none
    yet), each locked for the rest of the transaction, in uuid order (one
    statement per chunk)."""
    return db.rows_in(conn, _LOCK_INSTANCES, _sorted(uuids))


def pending_of(conn: Any, uuids: Sequence[str]) -> List[Any]:
    """The pending changes of these instances, oldest first."""
    return sorted(db.rows_in(conn, _PENDING_IN, _sorted(uuids)),
                  key=lambda row: row.id)


def applied_of(conn: Any, uuids: Sequence[str]) -> List[Any]:
    """The applied records of these instances."""
    return db.rows_in(conn, _APPLIED_IN, _sorted(uuids))


def held_by_all(conn: Any, names: Sequence[str],
                besides: Iterable[str]) -> FrozenSet[Key]:
    """The keys of the records named ``names`` that an instance other
    than ``besides`` holds (applied, or pending as an add)."""
    skip = set(besides)
    wanted = _sorted(names)
    applied_rows = [row for row in db.rows_in(conn, _APPLIED_NAMED, wanted)
                    if row.instance_uuid not in skip]
    pending_rows = sorted(
        (row for row in db.rows_in(conn, _PENDING_NAMED, wanted)
         if row.instance_uuid not in skip), key=lambda row: row.id)
    return frozenset(key for (_, key), holds in holding(
        applied_rows, pending_rows).items() if holds)


def queue(conn: Any, rows: Sequence[Dict[str, Any]]) -> None:
    """Queue these outbox rows (:func:`queue_rows`), in order."""
    if rows:
        conn.execute(_QUEUE, list(rows))


def write_instances(conn: Any, new: Sequence[Dict[str, Any]],
                    changed: Sequence[Dict[str, Any]]) -> None:
    """Insert the ``new`` instance rows and update the ``changed`` ones
    (every column; the rows are locked: :func:`lock_instances`)."""
    if new:
        conn.execute(_MAKE_INSTANCES, list(new))
    if changed:
        db.execute(conn, _UPDATE_INSTANCE, [
            dict(k_uuid=row['uuid'], v_name=row['name'],
                 v_project_id=row['project_id'],
                 v_created_at=row['created_at'],
                 v_deleted_at=row['deleted_at'],
                 v_network_json=row['network_json']) for row in changed])


def due(conn: Any, limit: int, at: Optional[datetime.datetime] = None
        ) -> List[Any]:
    """Pending changes whose next attempt is due, oldest first."""
    return list(conn.execute(outbox.select().where(
        outbox.c.next_attempt_at <= (at or timeutils.utcnow())).order_by(
            outbox.c.id).limit(limit)))


def pending(conn: Any, instance_uuid: Optional[str] = None) -> List[Any]:
    """Every pending change (optionally of one instance), oldest first."""
    query = outbox.select().order_by(outbox.c.id)
    if instance_uuid:
        query = query.where(outbox.c.instance_uuid == instance_uuid)
    return list(conn.execute(query))


def discard(conn: Any, ids: Sequence[int] = (), zones: Sequence[str] = (),
            instance_uuid: Optional[str] = None) -> List[Any]:
    """Remove the pending changes that match every selector given (ids,
    zones, instance); returns them. No selector: nothing."""
    if not (ids or zones or instance_uuid):
        return []
    where: Any = sa.true()
    if ids:
        where = where & outbox.c.id.in_(list(ids))
    if zones:
        where = where & outbox.c.zone.in_(list(zones))
    if instance_uuid:
        where = where & (outbox.c.instance_uuid == instance_uuid)
    rows = list(conn.execute(outbox.select().where(where).order_by(
        outbox.c.id)))
    if rows:
        conn.execute(outbox.delete().where(
            outbox.c.id.in_([row.id for row in rows])))
    return rows


def claim(conn: Any, ids: Sequence[int], token: str,
          until: datetime.datetime, at: datetime.datetime) -> List[Any]:
    """Take the unclaimed (or expired) changes among ``ids`` for sender
    ``token``; returns those it got, oldest first."""
    if not ids:
        return []
    conn.execute(outbox.update().where(
        outbox.c.id.in_(list(ids))
        & (outbox.c.claimed_until.is_(None)
           | (outbox.c.claimed_until <= at))).values(
        claimed_by=token, claimed_until=until))
    return list(conn.execute(outbox.select().where(
        outbox.c.id.in_(list(ids)) & (outbox.c.claimed_by == token)
    ).order_by(outbox.c.id)))


def release(conn: Any, rows: Sequence[Any], token: str) -> None:
    """Give claimed changes back untouched."""
    if rows:
        conn.execute(outbox.update().where(
            outbox.c.id.in_([row.id for row in rows])
            & (outbox.c.claimed_by == token)).values(
            claimed_by=None, claimed_until=None))


def claimed(conn: Any, at: Optional[datetime.datetime] = None) -> int:
    """Pending changes a sender holds a live claim on (it is sending
    them)."""
    return conn.execute(sa.func.count(outbox.c.id).select().where(
        outbox.c.claimed_until > (at or timeutils.utcnow()))).scalar() or 0


def confirm(conn: Any, rows: Sequence[Any], token: str) -> None:
    """The server applied ``rows`` (forgets need no server): update
    applied state, drop them."""
    stamp = timeutils.utcnow()
    # The final state of each record of each instance, in order.
    final: Dict[Tuple[str, str, str, str, str], Any] = {}
    for row in rows:
        final[key_of(row) + (row.instance_uuid,)] = row
    conn.execute(applied.delete().where(
        (applied.c.zone == sa.bindparam('k_zone'))
        & (applied.c.name == sa.bindparam('k_name'))
        & (applied.c.rtype == sa.bindparam('k_rtype'))
        & (applied.c.value == sa.bindparam('k_value'))
        & (applied.c.instance_uuid == sa.bindparam('k_uuid'))),
        [dict(k_zone=z, k_name=n, k_rtype=t, k_value=v, k_uuid=u)
         for z, n, t, v, u in final])
    adds = [dict(zone=row.zone, name=row.name, rtype=row.rtype,
                 value=row.value, ttl=row.ttl,
                 instance_uuid=row.instance_uuid, applied_at=stamp)
            for row in final.values() if row.op == ADD]
    if adds:
        conn.execute(applied.insert(), adds)
    conn.execute(outbox.delete().where(
        outbox.c.id.in_([row.id for row in rows])
        & (outbox.c.claimed_by == token)))


def postpone(conn: Any, rows: Sequence[Any], token: str, error: str,
             initial: float, maximum: float) -> None:
    """Record a failed attempt of sender ``token``; retry with exponential
    backoff. Changes no longer claimed by it are left as they are. One
    statement (executemany) for every row."""
    if not rows:
        return
    stamp = timeutils.utcnow()
    params = []
    for row in rows:
        attempts = row.attempts + 1
        delay = min(maximum, initial * (2 ** (attempts - 1)))
        params.append({'k_id': row.id, 'k_token': token,
                       'v_attempts': attempts, 'v_error': error[:500],
                       'v_next': stamp + datetime.timedelta(seconds=delay)})
    db.execute(conn, _POSTPONE, params)


def applied_records(conn: Any, instance_uuid: Optional[str] = None
                    ) -> List[Any]:
    query = applied.select().order_by(applied.c.zone, applied.c.name,
                                      applied.c.rtype, applied.c.value)
    if instance_uuid:
        query = query.where(applied.c.instance_uuid == instance_uuid)
    return list(conn.execute(query))


def owner_of_name(conn: Any, name: str) -> Optional[str]:
    """The live instance that has (or will have) forward name ``name``."""
    for row in conn.execute(applied.select().where(
            (applied.c.name == name) & applied.c.rtype.in_(['A', 'AAAA']))):
        return str(row.instance_uuid)
    for row in conn.execute(instances.select().where(
            (instances.c.name == name) & instances.c.deleted_at.is_(None))):
        return str(row.uuid)
    return None


def remember_instance(conn: Any, uuid: str, name: Optional[str],
                      project_id: Optional[str]) -> None:
    lock_instance(conn, uuid)
    db.execute(conn, _REMEMBER, {'k_uuid': uuid, 'v_name': name,
                                 'v_project_id': project_id,
                                 'v_created_at': timeutils.utcnow()})


def forget_instance(conn: Any, uuid: str) -> None:
    db.execute(conn, _FORGET, {'k_uuid': uuid,
                               'v_deleted_at': timeutils.utcnow()})


def held_by_zone(conn: Any, zones: Sequence[str]) -> Dict[str, int]:
    """Pending changes for zones other than ``zones``, by zone."""
    found: Dict[str, int] = {}
    for row in conn.execute(outbox.select().where(
            ~outbox.c.zone.in_(list(zones)))):
        found[row.zone] = found.get(row.zone, 0) + 1
    return found


def counts(conn: Any, zones: Sequence[str] = ()) -> Dict[str, int]:
    """Pending and applied changes; with ``zones`` (the configured ones),
    also ``held``: pending changes for any other zone."""
    found = {
        'pending': conn.execute(sa.func.count(outbox.c.id).select()
                                ).scalar() or 0,
        'applied': conn.execute(sa.func.count(applied.c.name).select()
                                ).scalar() or 0}
    if zones:
        found['held'] = conn.execute(sa.func.count(outbox.c.id).select(
        ).where(~outbox.c.zone.in_(list(zones)))).scalar() or 0
    return found


def prune(conn: Any, before: datetime.datetime) -> Dict[str, int]:
    """Forget instances deleted before ``before`` (their records were
    released when they were deleted; a name they held is free)."""
    return {'instances': conn.execute(instances.delete().where(
        instances.c.deleted_at < before)).rowcount}
