"""The DNS plugin's durable state: outbox, applied records, instances.

Every change is written to the outbox before it is sent; a record moves to
``dns_applied`` only after the server confirmed it. What an instance
"has" is the applied set with its pending changes replayed in order.
"""

import datetime
from typing import (
    Any,
    Dict,
    FrozenSet,
    Iterable,
    List,
    Optional,
    Sequence,
    Tuple,
)

import sqlalchemy as sa

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
    sa.Column('ttl', sa.Integer, nullable=False),
    sa.Column('instance_uuid', sa.String(36), nullable=False, index=True),
    sa.Column('applied_at', sa.DateTime, nullable=False),
)

instances = sa.Table(
    'dns_instances', metadata,
    sa.Column('uuid', sa.String(36), primary_key=True),
    sa.Column('name', sa.String(255)),
    sa.Column('project_id', sa.String(64)),
    sa.Column('created_at', sa.DateTime, nullable=False),
    sa.Column('deleted_at', sa.DateTime),
)


def now() -> datetime.datetime:
    return datetime.datetime.utcnow()


def record_of(row: Any) -> Record:
    return Record(row.zone, row.name, row.rtype, row.value, row.ttl)


def effective(conn: Any, instance_uuid: str) -> FrozenSet[Record]:
    """Applied records of an instance with its pending changes replayed."""
    have = {record_of(r) for r in conn.execute(applied.select().where(
        applied.c.instance_uuid == instance_uuid))}
    for row in conn.execute(outbox.select().where(
            outbox.c.instance_uuid == instance_uuid).order_by(outbox.c.id)):
        (have.add if row.op == 'add' else have.discard)(record_of(row))
    return frozenset(have)


def enqueue(conn: Any, instance_uuid: str, adds: Iterable[Record],
            deletes: Iterable[Record]) -> int:
    """Queue deletes then adds for an instance; returns how many."""
    stamp = now()
    rows = [dict(instance_uuid=instance_uuid, op=op, zone=r.zone,
                 name=r.name, rtype=r.rtype, value=r.value, ttl=r.ttl,
                 created_at=stamp, attempts=0, next_attempt_at=stamp)
            for op, records in (('delete', sorted(deletes)),
                                ('add', sorted(adds)))
            for r in records]
    if rows:
        conn.execute(outbox.insert(), rows)
    return len(rows)


def due(conn: Any, limit: int, at: Optional[datetime.datetime] = None
        ) -> List[Any]:
    """Pending changes whose next attempt is due, oldest first."""
    return list(conn.execute(outbox.select().where(
        outbox.c.next_attempt_at <= (at or now())).order_by(
            outbox.c.id).limit(limit)))


def pending(conn: Any, instance_uuid: Optional[str] = None) -> List[Any]:
    """Every pending change (optionally of one instance), oldest first."""
    query = outbox.select().order_by(outbox.c.id)
    if instance_uuid:
        query = query.where(outbox.c.instance_uuid == instance_uuid)
    return list(conn.execute(query))


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


def confirm(conn: Any, rows: Sequence[Any], token: str) -> None:
    """The server applied ``rows``: update applied state, drop them."""
    stamp = now()
    # The final state of each record after these changes, in order.
    final: Dict[Tuple[str, str, str, str], Any] = {}
    for row in rows:
        final[(row.zone, row.name, row.rtype, row.value)] = row
    conn.execute(applied.delete().where(
        (applied.c.zone == sa.bindparam('k_zone'))
        & (applied.c.name == sa.bindparam('k_name'))
        & (applied.c.rtype == sa.bindparam('k_rtype'))
        & (applied.c.value == sa.bindparam('k_value'))),
        [dict(k_zone=z, k_name=n, k_rtype=t, k_value=v)
         for z, n, t, v in final])
    adds = [dict(zone=row.zone, name=row.name, rtype=row.rtype,
                 value=row.value, ttl=row.ttl,
                 instance_uuid=row.instance_uuid, applied_at=stamp)
            for row in final.values() if row.op == 'add']
    if adds:
        conn.execute(applied.insert(), adds)
    conn.execute(outbox.delete().where(
        outbox.c.id.in_([row.id for row in rows])
        & (outbox.c.claimed_by == token)))


def postpone(conn: Any, rows: Sequence[Any], error: str,
             initial: float, maximum: float) -> None:
    """Record a failed attempt; retry with exponential backoff."""
    stamp = now()
    for row in rows:
        attempts = row.attempts + 1
        delay = min(maximum, initial * (2 ** (attempts - 1)))
        conn.execute(outbox.update().where(outbox.c.id == row.id).values(
            attempts=attempts, last_error=error[:500],
            next_attempt_at=stamp + datetime.timedelta(seconds=delay),
            claimed_by=None, claimed_until=None))


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
    conn.execute(instances.delete().where(instances.c.uuid == uuid))
    conn.execute(instances.insert().values(
        uuid=uuid, name=name, project_id=project_id, created_at=now()))


def forget_instance(conn: Any, uuid: str) -> None:
    conn.execute(instances.update().where(instances.c.uuid == uuid).values(
        deleted_at=now()))


def counts(conn: Any) -> Dict[str, int]:
    return {
        'pending': conn.execute(sa.func.count(outbox.c.id).select()
                                ).scalar() or 0,
        'applied': conn.execute(sa.func.count(applied.c.name).select()
                                ).scalar() or 0}
