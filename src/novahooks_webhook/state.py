"""The webhook plugin's durable state: each instance's last view and
sequence, the outbox (one row per event and endpoint: each endpoint its
own queue) and the endpoints a ``410 Gone`` disabled.

An instance's events are decided under its row lock
(:func:`lock_instance`), so processes sharing one database give each
sequence number once. An outbox row is ``pending`` until its endpoint
answered 2xx (``delivered``) or it was dead-lettered (``dead``).
"""

import datetime
import json
from typing import Any, Dict, List, Optional, Sequence, Tuple

from oslo_utils import timeutils
import sqlalchemy as sa

from novahooks_core.state import db
from novahooks_webhook.events import Known

metadata = sa.MetaData()

instances = sa.Table(
    'webhook_instances', metadata,
    sa.Column('uuid', sa.String(36), primary_key=True),
    sa.Column('view_json', sa.Text, nullable=False),
    sa.Column('network_json', sa.Text),
    sa.Column('sequence', sa.Integer, nullable=False),
    sa.Column('deleted_at', sa.DateTime),
    sa.Column('updated_at', sa.DateTime, nullable=False),
)

outbox = sa.Table(
    'webhook_outbox', metadata,
    sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
    sa.Column('endpoint', sa.String(255), nullable=False),
    sa.Column('instance_uuid', sa.String(36), nullable=False),
    sa.Column('sequence', sa.Integer, nullable=False),
    sa.Column('event_id', sa.String(64), nullable=False),
    sa.Column('event_type', sa.String(255), nullable=False),
    sa.Column('body', sa.Text, nullable=False),
    sa.Column('status', sa.String(16), nullable=False),
    sa.Column('attempts', sa.Integer, nullable=False),
    sa.Column('created_at', sa.DateTime, nullable=False),
    sa.Column('next_at', sa.DateTime, nullable=False),
    sa.Column('done_at', sa.DateTime),
    sa.Column('last_error', sa.String(255)),
)

endpoints = sa.Table(
    'webhook_endpoints', metadata,
    sa.Column('name', sa.String(255), primary_key=True),
    sa.Column('disabled_at', sa.DateTime),
    sa.Column('reason', sa.String(255)),
)

PENDING, DELIVERED, DEAD = 'pending', 'delivered', 'dead'


def _make(dialect: str) -> Any:
    if dialect == 'postgresql':
        from sqlalchemy.dialects import postgresql
        return postgresql.insert(instances).on_conflict_do_nothing()
    return instances.insert().prefix_with('OR IGNORE')


def lock_instance(conn: Any, uuid: str) -> Known:
    """Take the instance's row lock for the rest of the transaction (its
    row made if missing) and read what is kept of it."""
    conn.execute(_make(conn.dialect.name), {
        'uuid': uuid, 'view_json': '', 'sequence': 0,
        'updated_at': timeutils.utcnow()})
    row = conn.execute(instances.select().where(
        instances.c.uuid == uuid).with_for_update()).first()
    return Known(json.loads(row.view_json) if row.view_json else None,
                 row.sequence, row.deleted_at is not None)


def network_of(conn: Any, uuid: str) -> Optional[Dict[str, Any]]:
    """The network info (primitive) the instance's view was made of."""
    found = conn.execute(instances.select().where(
        instances.c.uuid == uuid)).first()
    if found is None or not found.network_json:
        return None
    network: Dict[str, Any] = json.loads(found.network_json)
    return network


def keep(conn: Any, uuid: str, view: Dict[str, Any],
         network: Optional[Dict[str, Any]], sequence: int,
         deleted: bool) -> None:
    """Write what is now known of the instance (its row is locked)."""
    now = timeutils.utcnow()
    values: Dict[str, Any] = {
        'view_json': json.dumps(view, sort_keys=True), 'sequence': sequence,
        'updated_at': now}
    if network is not None:
        values['network_json'] = json.dumps(network, sort_keys=True)
    if deleted:
        values['deleted_at'] = now
    conn.execute(instances.update().where(instances.c.uuid == uuid).values(
        **values))


def enqueue(conn: Any, rows: Sequence[Dict[str, Any]]) -> None:
    """Queue events: each row's ``endpoint``, ``instance_uuid``,
    ``sequence``, ``event_id``, ``event_type`` and ``body``."""
    if not rows:
        return
    now = timeutils.utcnow()
    conn.execute(outbox.insert(), [dict(
        row, status=PENDING, attempts=0, created_at=now, next_at=now)
        for row in rows])


def heads(conn: Any, endpoint: str, now: datetime.datetime, limit: int
          ) -> List[Any]:
    """The endpoint's events due now that are first in their instance's
    queue (the one before has been delivered or dead-lettered), oldest
    first: at most one per instance, so an instance's events go in
    order."""
    older = outbox.alias('older')
    earlier = sa.exists().where(sa.and_(
        older.c.endpoint == outbox.c.endpoint,
        older.c.instance_uuid == outbox.c.instance_uuid,
        older.c.status == PENDING, older.c.sequence < outbox.c.sequence))
    return list(conn.execute(outbox.select().where(sa.and_(
        outbox.c.endpoint == endpoint, outbox.c.status == PENDING,
        outbox.c.next_at <= now, ~earlier)).order_by(
        outbox.c.id).limit(limit)))


# Built once (see novahooks_core.state.db.execute): a round runs them for
# every event.
_CLAIM = outbox.update().where(sa.and_(
    outbox.c.id == sa.bindparam('k_id'), outbox.c.status == PENDING,
    outbox.c.next_at == sa.bindparam('k_due'))).values(
    next_at=sa.bindparam('v_until'))


def claim(conn: Any, row_id: int, due: datetime.datetime,
          until: datetime.datetime) -> bool:
    """Take the event for one attempt (another process's sender sees it
    due only after ``until``): whether it was still due at ``due``."""
    return bool(db.execute(conn, _CLAIM, {
        'k_id': row_id, 'k_due': due, 'v_until': until}).rowcount)


def delivered(conn: Any, row_ids: Sequence[int]) -> None:
    """Mark these events delivered (one statement)."""
    if row_ids:
        conn.execute(outbox.update().where(outbox.c.id.in_(
            list(row_ids))).values(
            status=DELIVERED, done_at=timeutils.utcnow(), last_error=None,
            attempts=outbox.c.attempts + 1))


def retry(conn: Any, row_id: int, at: datetime.datetime, error: str
          ) -> None:
    conn.execute(outbox.update().where(outbox.c.id == row_id).values(
        next_at=at, last_error=error[:255], attempts=outbox.c.attempts + 1))


def dead(conn: Any, row_id: int, error: str) -> None:
    conn.execute(outbox.update().where(outbox.c.id == row_id).values(
        status=DEAD, done_at=timeutils.utcnow(), last_error=error[:255],
        attempts=outbox.c.attempts + 1))


def disable(conn: Any, endpoint: str, reason: str) -> None:
    """Disable ``endpoint`` (its events stay pending)."""
    conn.execute(endpoints.delete().where(endpoints.c.name == endpoint))
    conn.execute(endpoints.insert(), {
        'name': endpoint, 'disabled_at': timeutils.utcnow(),
        'reason': reason[:255]})


def disabled(conn: Any) -> Dict[str, str]:
    """The disabled endpoints and why."""
    return {row.name: row.reason or '' for row in conn.execute(
        endpoints.select())}


def enable(conn: Any, endpoint: str) -> bool:
    """Enable ``endpoint`` again: whether it was disabled."""
    return bool(conn.execute(endpoints.delete().where(
        endpoints.c.name == endpoint)).rowcount)


def replay(conn: Any, ids: Sequence[int], endpoint: Optional[str]
           ) -> List[Any]:
    """Queue dead-lettered events again (those of ``ids``, else all, of
    ``endpoint`` if given): the rows replayed."""
    query = outbox.select().where(outbox.c.status == DEAD)
    if ids:
        query = query.where(outbox.c.id.in_(list(ids)))
    if endpoint is not None:
        query = query.where(outbox.c.endpoint == endpoint)
    found = list(conn.execute(query.order_by(outbox.c.id)))
    if found:
        conn.execute(outbox.update().where(outbox.c.id.in_(
            [row.id for row in found])).values(
            status=PENDING, next_at=timeutils.utcnow(), done_at=None,
            created_at=timeutils.utcnow()))
    return found


def rows(conn: Any, status: str, endpoint: Optional[str] = None
         ) -> List[Any]:
    """The outbox's rows of ``status`` (and ``endpoint``), oldest first."""
    query = outbox.select().where(outbox.c.status == status)
    if endpoint is not None:
        query = query.where(outbox.c.endpoint == endpoint)
    return list(conn.execute(query.order_by(outbox.c.id)))


def counts(conn: Any, names: Sequence[str]) -> Dict[Tuple[str, str], Any]:
    """Events of the endpoints ``names`` by (endpoint, status); and by
    (endpoint, ``'oldest'``) the time the oldest pending one was
    queued."""
    found: Dict[Tuple[str, str], Any] = {}
    for name in names:
        mine = outbox.c.endpoint == name
        for status in (PENDING, DELIVERED, DEAD):
            found[name, status] = conn.execute(
                sa.func.count(outbox.c.id).select().where(sa.and_(
                    mine, outbox.c.status == status))).scalar() or 0
        found[name, 'oldest'] = conn.execute(
            sa.func.min(outbox.c.created_at).select().where(sa.and_(
                mine, outbox.c.status == PENDING))).scalar()
    return found


def prune(conn: Any, before: datetime.datetime) -> Dict[str, int]:
    """Forget delivered events and instances deleted before ``before``
    (their queues are empty: nothing is sent after ``deleted``)."""
    return {
        'delivered events': conn.execute(outbox.delete().where(sa.and_(
            outbox.c.status == DELIVERED, outbox.c.done_at < before))
        ).rowcount,
        'instances': conn.execute(instances.delete().where(
            instances.c.deleted_at < before)).rowcount}
