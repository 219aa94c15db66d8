"""The storage ledger: instances, their block-device mappings per phase,
and the volumes they had, with what became of each.

Each operation's effect on one instance is decided by a pure function of
the instance's state (:func:`decide`), shared by the two ways it is
written: one operation at a time (:func:`record`: hooks inside Nova, the
spool's replay) and a batch of them at once (:class:`Batch`: the
listener's batches, one statement per table and kind of write).

Never stored: ``connection_info`` (the models have no such field) and
anything from the admin password or user data.
"""

import dataclasses
import datetime
import functools
from typing import (
    Any,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Set,
    Tuple,
)

from oslo_utils import timeutils
import sqlalchemy as sa

from novahooks_core.models import BlockDevice
from novahooks_core.state import db

metadata = sa.MetaData()

instances = sa.Table(
    'storage_instances', metadata,
    sa.Column('uuid', sa.String(36), primary_key=True),
    sa.Column('project_id', sa.String(64), index=True),
    sa.Column('host', sa.String(255)),
    sa.Column('state', sa.String(16), nullable=False),
    sa.Column('requested_at', sa.DateTime),
    sa.Column('built_at', sa.DateTime),
    sa.Column('deleted_at', sa.DateTime),
)

#: One row per mapping per phase: ``requested`` (create), ``built`` (the
#: host's BlockDeviceMappingList) or ``at_delete`` (delete pre).
mappings = sa.Table(
    'storage_mappings', metadata,
    sa.Column('instance_uuid', sa.String(36), primary_key=True),
    sa.Column('phase', sa.String(16), primary_key=True),
    sa.Column('position', sa.Integer, primary_key=True),
    sa.Column('source_type', sa.String(16)),
    sa.Column('destination_type', sa.String(16)),
    sa.Column('boot_index', sa.Integer),
    sa.Column('device_name', sa.String(255)),
    sa.Column('device_type', sa.String(32)),
    sa.Column('disk_bus', sa.String(32)),
    sa.Column('guest_format', sa.String(32)),
    sa.Column('volume_id', sa.String(36), index=True),
    sa.Column('snapshot_id', sa.String(36)),
    sa.Column('image_id', sa.String(36)),
    sa.Column('volume_size', sa.Integer),
    sa.Column('volume_type', sa.String(255)),
    sa.Column('attachment_id', sa.String(36)),
    sa.Column('bdm_uuid', sa.String(36)),
    sa.Column('delete_on_termination', sa.Boolean),
    sa.Column('tag', sa.String(255)),
    sa.Column('recorded_at', sa.DateTime, nullable=False),
)

#: What became of each volume an instance had: attached, then
#: ``deleted_with_instance`` or ``retained`` when the instance went.
volumes = sa.Table(
    'storage_volumes', metadata,
    sa.Column('volume_id', sa.String(36), primary_key=True),
    sa.Column('instance_uuid', sa.String(36), primary_key=True, index=True),
    sa.Column('project_id', sa.String(64), index=True),
    sa.Column('size_gb', sa.Integer),
    sa.Column('volume_type', sa.String(255)),
    sa.Column('delete_on_termination', sa.Boolean),
    sa.Column('fate', sa.String(24), nullable=False),
    sa.Column('attached_at', sa.DateTime),
    sa.Column('fate_at', sa.DateTime),
)

MAPPING_FIELDS = ('source_type', 'destination_type', 'boot_index',
                  'device_name', 'device_type', 'disk_bus', 'guest_format',
                  'volume_id', 'snapshot_id', 'image_id', 'volume_size',
                  'volume_type', 'attachment_id', 'delete_on_termination',
                  'tag')


#: The operations (:func:`decide`).
KINDS = ('requested', 'built', 'deleting', 'deleted')
#: The mappings phase each operation records (``deleted`` records none).
PHASES = {'requested': 'requested', 'built': 'built',
          'deleting': 'at_delete'}

Row = Dict[str, Any]

#: The columns of a state's rows (their keys aside).
INSTANCE_COLUMNS = tuple(c.name for c in instances.c if c.name != 'uuid')
VOLUME_COLUMNS = tuple(c.name for c in volumes.c
                       if c.name not in ('volume_id', 'instance_uuid'))

_NEW_INSTANCE: Row = dict(dict.fromkeys(INSTANCE_COLUMNS), state='requested')


# -- the decisions: pure functions of one instance's state ---------------


@dataclasses.dataclass(frozen=True)
class State:
    """One instance in the ledger as its decisions see it: its
    ``storage_instances`` row (less the uuid; ``None``: no row), its
    ``storage_volumes`` rows by volume id (less the keys), and the
    mappings phases replaced since it was read. A phase's mappings are
    replaced whole, so no decision depends on those recorded before:
    they are never read back."""

    row: Optional[Row] = None
    volumes: Mapping[str, Row] = dataclasses.field(default_factory=dict)
    mappings: Mapping[str, Sequence[Row]] = dataclasses.field(
        default_factory=dict)


def instance_values(kind: str, project_id: Optional[str],
                    host: Optional[str], now: datetime.datetime) -> Row:
    """The instance's columns operation ``kind`` sets (whatever they
    were)."""
    if kind == 'requested':
        return {'project_id': project_id, 'requested_at': now}
    if kind == 'built':
        return {'project_id': project_id, 'host': host, 'state': 'built',
                'built_at': now}
    if kind == 'deleting':
        return {'project_id': project_id, 'host': host}
    if kind == 'deleted':
        return {'project_id': project_id, 'state': 'deleted',
                'deleted_at': now}
    raise ValueError('unknown ledger operation %r' % kind)


def instance_row(row: Optional[Row], values: Row) -> Row:
    """The instance's row with ``values`` set; a new one is ``requested``
    unless they say otherwise, the rest unknown."""
    found = dict(_NEW_INSTANCE if row is None else row)
    found.update(values)
    return found


def volume_devices(devices: Sequence[BlockDevice]) -> List[BlockDevice]:
    """The mappings that attach a volume."""
    return [d for d in devices
            if d.volume_id and d.destination_type == 'volume']


def attached(volumes: Mapping[str, Row], devices: Sequence[BlockDevice],
             project_id: Optional[str], now: datetime.datetime
             ) -> Dict[str, Row]:
    """The instance's volumes once told ``devices`` are on it: each one's
    project, size, type and ``delete_on_termination`` as told; a volume
    new to the instance ``attached`` at ``now``, a known one keeps its
    fate."""
    found = dict(volumes)
    for device in volume_devices(devices):
        values = {'project_id': project_id, 'size_gb': device.volume_size,
                  'volume_type': device.volume_type,
                  'delete_on_termination': device.delete_on_termination}
        known = found.get(str(device.volume_id))
        found[str(device.volume_id)] = (
            dict(known, **values) if known is not None else
            dict(values, fate='attached', attached_at=now, fate_at=None))
    return found


def fates(volumes: Mapping[str, Row], now: datetime.datetime
          ) -> Tuple[Dict[str, Row], int]:
    """The instance is gone: each volume still attached is deleted with it
    (``delete_on_termination`` true) or retained, at ``now``; with how
    many got their fate."""
    found = dict(volumes)
    for volume_id, row in volumes.items():
        if row['fate'] == 'attached':
            found[volume_id] = dict(row, fate_at=now, fate=(
                'deleted_with_instance' if row['delete_on_termination']
                else 'retained'))
    return found, sum(1 for v in volumes if found[v] is not volumes[v])


def mapping_rows(devices: Sequence[BlockDevice], now: datetime.datetime
                 ) -> List[Row]:
    """A phase's mappings (less the instance and phase) recorded at
    ``now``."""
    return [dict({f: getattr(d, f) for f in MAPPING_FIELDS}, position=i,
                 bdm_uuid=d.uuid, recorded_at=now)
            for i, d in enumerate(devices)]


def decide(state: State, kind: str, project_id: Optional[str],
           host: Optional[str], devices: Optional[Sequence[BlockDevice]],
           now: datetime.datetime) -> Tuple[State, int]:
    """The instance's ledger after operation ``kind`` at ``now`` (a pure
    function): ``(new state, how many volumes got their fate)``.

    - ``requested`` (create): the requested mappings;
    - ``built``: up on ``host`` with ``devices`` (the built mappings, and
      the volumes attached);
    - ``deleting`` (delete pre): the mappings at deletion, and the volumes
      attached;
    - ``deleted``: every volume still attached deleted with the instance
      or retained.

    ``devices=None`` (built, deleting): not told, the mappings and
    volumes known stay."""
    row = instance_row(state.row, instance_values(kind, project_id, host,
                                                  now))
    volumes, mappings, fated = state.volumes, state.mappings, 0
    if kind == 'deleted':
        volumes, fated = fates(volumes, now)
    elif kind == 'requested' or devices is not None:
        told = devices or ()
        mappings = dict(mappings, **{PHASES[kind]: mapping_rows(told, now)})
        if kind != 'requested':
            volumes = attached(volumes, told, project_id, now)
    return State(row, volumes, mappings), fated


# -- reading and writing states --------------------------------------------

# Statements on the hot paths are built once (see db.execute).
_p = sa.bindparam


@functools.lru_cache(maxsize=None)
def _update_instance(columns: Tuple[str, ...]) -> Any:
    return instances.update().where(instances.c.uuid == _p('k_uuid')).values(
        {name: _p('v_' + name) for name in columns})


_UPDATE_VOLUME = volumes.update().where(
    (volumes.c.volume_id == _p('k_volume'))
    & (volumes.c.instance_uuid == _p('k_uuid'))).values(
    {name: _p('v_' + name) for name in VOLUME_COLUMNS})
_VOLUMES_OF = volumes.select().where(volumes.c.instance_uuid == _p('k_uuid'))
_DELETE_MAPPINGS = mappings.delete().where(
    (mappings.c.instance_uuid == _p('k_uuid'))
    & (mappings.c.phase == _p('k_phase')))
_INSERT_INSTANCES = instances.insert()
_INSERT_MAPPINGS = mappings.insert()
_INSERT_VOLUMES = volumes.insert()

def _volume(row: Any) -> Row:
    return {name: getattr(row, name) for name in VOLUME_COLUMNS}


# A batch's reads (one statement per table and chunk), built once.
_INSTANCES_IN = instances.select().where(db.is_in(instances.c.uuid))
_LOCK_INSTANCES_IN = _INSTANCES_IN.with_for_update()
_VOLUMES_IN = volumes.select().where(db.is_in(volumes.c.instance_uuid))


def read_states(conn: Any, uuids: Sequence[str], lock: bool = False
                ) -> Dict[str, State]:
    """The states of these instances: one statement per table (per
    :data:`novahooks_core.state.db.IN_CHUNK` instances); ``lock``: their rows
    locked for the rest of the transaction (PostgreSQL; SQLite's write
    lock is the database's)."""
    rows: Dict[str, Row] = {}
    found: Dict[str, Dict[str, Row]] = {uuid: {} for uuid in uuids}
    wanted = sorted(found)
    for row in db.rows_in(conn, _LOCK_INSTANCES_IN if lock
                          else _INSTANCES_IN, wanted):
        rows[row.uuid] = {c: getattr(row, c) for c in INSTANCE_COLUMNS}
    for row in db.rows_in(conn, _VOLUMES_IN, wanted):
        found[row.instance_uuid][row.volume_id] = _volume(row)
    return {uuid: State(rows.get(uuid), held)
            for uuid, held in found.items()}


def write(conn: Any, changes: Mapping[str, Tuple[State, State]],
          rows: bool = True) -> None:
    """Write what changed from each instance's old state to its new one
    (by uuid): per table, the new rows inserted and the changed ones
    updated with one statement each (executemany), the phases replaced
    deleted with one statement; ``rows=False``: the instances' rows are
    written already."""
    if rows:
        _write_rows(conn, changes)
    _write_mappings(conn, changes)
    _write_volumes(conn, changes)


def _write_rows(conn: Any, changes: Mapping[str, Tuple[State, State]]
                ) -> None:
    new, changed = [], []
    for uuid, (old, state) in sorted(changes.items()):
        if state.row is None or state.row == old.row:
            continue
        if old.row is None:
            new.append(dict(state.row, uuid=uuid))
        else:
            changed.append(dict({'v_' + c: state.row[c]
                                 for c in INSTANCE_COLUMNS}, k_uuid=uuid))
    if new:
        db.execute(conn, _INSERT_INSTANCES, new)
    if changed:
        db.execute(conn, _update_instance(INSTANCE_COLUMNS), changed)


def _write_mappings(conn: Any, changes: Mapping[str, Tuple[State, State]]
                    ) -> None:
    replaced = [(uuid, phase, found)
                for uuid, (old, state) in sorted(changes.items())
                for phase, found in sorted(state.mappings.items())
                if old.mappings.get(phase) is not found]
    if not replaced:
        return
    if len(replaced) == 1:
        db.execute(conn, _DELETE_MAPPINGS, {'k_uuid': replaced[0][0],
                                            'k_phase': replaced[0][1]})
    else:
        for chunk in db.chunks(replaced):
            by_phase: Dict[str, List[str]] = {}
            for uuid, phase, _ in chunk:
                by_phase.setdefault(phase, []).append(uuid)
            conn.execute(mappings.delete().where(sa.or_(*[
                (mappings.c.phase == phase)
                & mappings.c.instance_uuid.in_(uuids)
                for phase, uuids in sorted(by_phase.items())])))
    new = [dict(row, instance_uuid=uuid, phase=phase)
           for uuid, phase, found in replaced for row in found]
    if new:
        db.execute(conn, _INSERT_MAPPINGS, new)


def _write_volumes(conn: Any, changes: Mapping[str, Tuple[State, State]]
                   ) -> None:
    new, changed = [], []
    for uuid, (old, state) in sorted(changes.items()):
        if state.volumes is old.volumes:
            continue
        for volume_id, row in sorted(state.volumes.items()):
            known = old.volumes.get(volume_id)
            if known is None:
                new.append(dict(row, volume_id=volume_id,
                                instance_uuid=uuid))
            elif row != known:
                changed.append(dict({'v_' + c: row[c]
                                     for c in VOLUME_COLUMNS},
                                    k_volume=volume_id, k_uuid=uuid))
    if new:
        db.execute(conn, _INSERT_VOLUMES, new)
    if changed:
        db.execute(conn, _UPDATE_VOLUME, changed)


# -- one operation (hooks, the spool) ---------------------------------------


def record(conn: Any, kind: str, uuid: str, project_id: Optional[str],
           host: Optional[str] = None,
           devices: Optional[Sequence[BlockDevice]] = None) -> int:
    """Operation ``kind`` (:func:`decide`) on instance ``uuid``, now;
    returns how many volumes got their fate.

    The instance's row is written first, so its row lock (and SQLite's
    write lock) is held before anything is read: the columns an operation
    sets do not depend on what they were, so the row is updated in place,
    or inserted if there was none. Then its volumes are read, if the
    operation decides about them, and what changed is written."""
    now = timeutils.utcnow()
    values = instance_values(kind, project_id, host, now)
    params = {'v_' + name: value for name, value in values.items()}
    params['k_uuid'] = uuid
    updated = db.execute(conn, _update_instance(tuple(sorted(values))),
                         params).rowcount
    old = State()
    if kind == 'deleted' or (kind != 'requested' and devices is not None
                             and volume_devices(devices)):
        old = State(volumes={row.volume_id: _volume(row) for row in
                             db.execute(conn, _VOLUMES_OF, {'k_uuid': uuid})})
    state, fated = decide(old, kind, project_id, host, devices, now)
    if not updated:
        db.execute(conn, _INSERT_INSTANCES, dict(state.row or {}, uuid=uuid))
    write(conn, {uuid: (old, state)}, rows=False)
    return fated


def record_requested(conn: Any, uuid: str, project_id: Optional[str],
                     devices: Sequence[BlockDevice]) -> None:
    """The mappings a create asked for."""
    record(conn, 'requested', uuid, project_id, None, devices)


def record_built(conn: Any, uuid: str, project_id: Optional[str],
                 host: Optional[str],
                 devices: Optional[Sequence[BlockDevice]]) -> None:
    """The instance is up on ``host`` with ``devices`` (``None``: not
    told, the mappings already recorded stay)."""
    record(conn, 'built', uuid, project_id, host, devices)


def record_deleting(conn: Any, uuid: str, project_id: Optional[str],
                    host: Optional[str],
                    devices: Optional[Sequence[BlockDevice]]) -> None:
    """The mappings as they are at deletion (delete pre; ``None``: not
    told)."""
    record(conn, 'deleting', uuid, project_id, host, devices)


def record_deleted(conn: Any, uuid: str, project_id: Optional[str]) -> int:
    """The instance is gone: each of its attached volumes deleted with it
    (``delete_on_termination``) or retained. The mappings were recorded
    by :func:`record_deleting` in ``pre``. Returns how many volumes got
    their fate."""
    return record(conn, 'deleted', uuid, project_id)


# -- a batch of operations (the listener) -----------------------------------


class Batch:
    """The states of a batch's instances read at once (their rows
    locked), each operation decided in memory, in order (:meth:`apply`:
    an instance's later operation sees what its earlier ones left), and
    what changed written at once (:meth:`write`)."""

    def __init__(self, conn: Any, uuids: Iterable[str]) -> None:
        self.conn = conn
        self.read = read_states(conn, sorted(set(uuids)), lock=True)
        self.states = dict(self.read)

    def apply(self, kind: str, uuid: str, project_id: Optional[str],
              host: Optional[str] = None,
              devices: Optional[Sequence[BlockDevice]] = None) -> int:
        """:func:`record`, in memory."""
        state = self.states.get(uuid)
        if state is None:   # not foreseen: read now
            state = self.read[uuid] = read_states(self.conn, [uuid],
                                                  lock=True)[uuid]
        found, fated = decide(state, kind, project_id, host, devices,
                              timeutils.utcnow())
        self.states[uuid] = found
        return fated

    def write(self) -> None:
        """Write what the batch changed; raises if it cannot."""
        write(self.conn, {uuid: (self.read[uuid], state)
                          for uuid, state in self.states.items()
                          if state is not self.read[uuid]})
        self.read = dict(self.states)


def retained(conn: Any, older_than: Optional[datetime.datetime] = None,
             project_id: Optional[str] = None) -> List[Any]:
    query = volumes.select().where(volumes.c.fate == 'retained')
    if older_than is not None:
        query = query.where(volumes.c.fate_at <= older_than)
    if project_id:
        query = query.where(volumes.c.project_id == project_id)
    return list(conn.execute(query.order_by(volumes.c.fate_at)))


def prune(conn: Any, before: datetime.datetime) -> Dict[str, int]:
    """Forget instances deleted before ``before``: their mappings, their
    volumes' rows and themselves; not one that still has a retained volume
    (an orphan candidate stays listed until it is dealt with)."""
    gone = [row.uuid for row in conn.execute(instances.select().where(
        (instances.c.state == 'deleted') & (instances.c.deleted_at < before)))]
    kept: Set[str] = set()
    for chunk in db.chunks(gone):
        kept |= {row.instance_uuid for row in conn.execute(
            volumes.select().where(volumes.c.instance_uuid.in_(chunk)
                                   & (volumes.c.fate == 'retained')))}
    drop = [uuid for uuid in gone if uuid not in kept]
    found = {'instances': 0, 'mappings': 0, 'volumes': 0}
    for chunk in db.chunks(drop):
        found['mappings'] += conn.execute(mappings.delete().where(
            mappings.c.instance_uuid.in_(chunk))).rowcount
        found['volumes'] += conn.execute(volumes.delete().where(
            volumes.c.instance_uuid.in_(chunk))).rowcount
        found['instances'] += conn.execute(instances.delete().where(
            instances.c.uuid.in_(chunk))).rowcount
    return found
