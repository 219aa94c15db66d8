"""The netinfo history: current state per instance, change events and
anomalies (SQLAlchemy; SQLite by default, any URL for a shared history)."""

import datetime
import functools
import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import sqlalchemy as sa

from novahooks_core.state import db

metadata = sa.MetaData()

states = sa.Table(
    'netinfo_state', metadata,
    sa.Column('uuid', sa.String(36), primary_key=True),
    sa.Column('fingerprint', sa.String(40), nullable=False),
    sa.Column('network_json', sa.Text, nullable=False),
    #: The last non-empty network info (to see and restore an emptied one).
    sa.Column('last_good_json', sa.Text),
    sa.Column('emptied_alerted', sa.Boolean, nullable=False),
    sa.Column('updated_at', sa.DateTime, nullable=False),
)

#: Every fixed IP in every instance's current cache (for duplicates).
addresses = sa.Table(
    'netinfo_addresses', metadata,
    sa.Column('uuid', sa.String(36), primary_key=True),
    sa.Column('network_id', sa.String(36), primary_key=True),
    sa.Column('address', sa.String(64), primary_key=True, index=True),
)

events = sa.Table(
    'netinfo_events', metadata,
    sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
    sa.Column('uuid', sa.String(36), nullable=False, index=True),
    sa.Column('at', sa.DateTime, nullable=False, index=True),
    sa.Column('kind', sa.String(32), nullable=False),
    sa.Column('anomaly', sa.Boolean, nullable=False),
    sa.Column('vif_id', sa.String(36)),
    sa.Column('detail', sa.String(500), nullable=False),
)



# Statements of the hook path, built once (see db.execute).
_p = sa.bindparam
_STATE = states.select().where(states.c.uuid == _p('k_uuid'))
#: A write first: the instance's row lock (and SQLite's write lock).
_LOCK_STATE = states.update().where(states.c.uuid == _p('k_uuid')).values(
    uuid=_p('v_uuid'))
_DROP_ADDRESSES = addresses.delete().where(addresses.c.uuid == _p('k_uuid'))
_ADD_ADDRESSES = addresses.insert()
_HOLDERS = addresses.select().where(
    (addresses.c.address == _p('k_address'))
    & (addresses.c.network_id == _p('k_network'))
    & (addresses.c.uuid != _p('k_uuid')))


@functools.lru_cache(maxsize=None)
def _update_state(columns: Tuple[str, ...]) -> Any:
    return states.update().where(states.c.uuid == _p('k_uuid')).values(
        {name: _p('v_' + name) for name in columns})


def replace_addresses(conn: Any, uuid: str,
                      pairs: Sequence[Tuple[str, str]]) -> List[str]:
    """Store an instance's (network, fixed IP) pairs; returns the other
    instances already holding one of them."""
    db.execute(conn, _DROP_ADDRESSES, {'k_uuid': uuid})
    if not pairs:
        return []
    db.execute(conn, _ADD_ADDRESSES, [
        dict(uuid=uuid, network_id=network, address=address)
        for network, address in pairs])
    others = set()
    for network, address in pairs:
        for row in db.execute(conn, _HOLDERS, {
                'k_address': address, 'k_network': network, 'k_uuid': uuid}):
            others.add('%s (%s on %s)' % (row.uuid, address, network))
    return sorted(others)


# A batch's reads and writes (one statement per table and chunk), built
# once.
_STATES_IN = states.select().where(db.is_in(states.c.uuid))
_ADDRESSES_IN = addresses.select().where(db.is_in(addresses.c.uuid))
_ADDRESSES_AT = addresses.select().where(db.is_in(addresses.c.address))
_DROP_ADDRESSES_IN = addresses.delete().where(db.is_in(addresses.c.uuid))
#: New history rows; new states.
INSERT_EVENTS = events.insert()
INSERT_STATES = states.insert()


def states_of(conn: Any, uuids: Sequence[str]) -> List[Any]:
    """The states of these instances (one statement per chunk)."""
    return db.rows_in(conn, _STATES_IN, uuids)


def addresses_of(conn: Any, uuids: Sequence[str]) -> List[Any]:
    """The addresses these instances hold."""
    return db.rows_in(conn, _ADDRESSES_IN, uuids)


def holders_of(conn: Any, pairs: Sequence[Tuple[str, str]],
               besides: Sequence[str]) -> List[Any]:
    """The rows of instances other than ``besides`` holding an address of
    these (network, address) pairs."""
    skip = set(besides)
    wanted = set(pairs)
    return [row for row in db.rows_in(
        conn, _ADDRESSES_AT, sorted({address for _, address in pairs}))
        if row.uuid not in skip and (row.network_id, row.address) in wanted]


def replace_addresses_of(conn: Any,
                         pairs: Mapping[str, Sequence[Tuple[str, str]]]
                         ) -> None:
    """Store these instances' (network, fixed IP) pairs, replacing what
    they held."""
    uuids = sorted(pairs)
    for chunk in db.chunks(uuids):
        db.execute(conn, _DROP_ADDRESSES_IN, {db.IN: chunk})
    rows = [dict(uuid=uuid, network_id=network, address=address)
            for uuid in uuids for network, address in pairs[uuid]]
    if rows:
        db.execute(conn, _ADD_ADDRESSES, rows)


def update_statement(columns: Tuple[str, ...]) -> Any:
    """An UPDATE of these columns of one state (parameters ``v_<column>``
    and ``k_uuid``), built once per set of columns."""
    return _update_state(tuple(sorted(columns)))


def state(conn: Any, uuid: str) -> Optional[Any]:
    return db.execute(conn, _STATE, {'k_uuid': uuid}).first()


def lock_state(conn: Any, uuid: str) -> None:
    """Take the instance's row lock (if it has a row) and SQLite's write
    lock for the rest of the transaction."""
    db.execute(conn, _LOCK_STATE, {'k_uuid': uuid, 'v_uuid': uuid})


def update_state(conn: Any, uuid: str, **values: Any) -> None:
    params = {'v_' + name: value for name, value in values.items()}
    params['k_uuid'] = uuid
    db.execute(conn, _update_state(tuple(sorted(values))), params)


def history(conn: Any, uuid: str) -> List[Any]:
    return list(conn.execute(events.select().where(
        events.c.uuid == uuid).order_by(events.c.id)))


def anomalies(conn: Any, since: Optional[datetime.datetime] = None
              ) -> List[Any]:
    query = events.select().where(events.c.anomaly == sa.true())
    if since is not None:
        query = query.where(events.c.at >= since)
    return list(conn.execute(query.order_by(events.c.id)))


def prune(conn: Any, before: datetime.datetime) -> Dict[str, int]:
    """Forget history events older than ``before``, and the state of
    instances whose cache was emptied (deallocated) before it."""
    found = {'events': conn.execute(events.delete().where(
        events.c.at < before)).rowcount, 'instances': 0}
    emptied = [row.uuid for row in conn.execute(states.select().where(
        states.c.updated_at < before))
        if not (json.loads(row.network_json or '{}') or {}).get('vifs')]
    for start in range(0, len(emptied), 500):
        chunk = emptied[start:start + 500]
        conn.execute(addresses.delete().where(addresses.c.uuid.in_(chunk)))
        found['instances'] += conn.execute(states.delete().where(
            states.c.uuid.in_(chunk))).rowcount
    return found
