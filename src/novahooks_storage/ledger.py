"""The storage ledger: instances, their block-device mappings per phase,
and the volumes they had, with what became of each.

Never stored: ``connection_info`` (the models have no such field) and
anything from the admin password or user data.
"""

import datetime
import functools
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple

from oslo_utils import timeutils
import sqlalchemy as sa

from novahooks_core import db
from novahooks_core.models import BlockDevice

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



# Statements on the hot paths are built once (see db.execute).
_p = sa.bindparam


@functools.lru_cache(maxsize=None)
def _update_instance(columns: Tuple[str, ...]) -> Any:
    return instances.update().where(instances.c.uuid == _p('k_uuid')).values(
        {name: _p('v_' + name) for name in columns})


_UPDATE_VOLUME = volumes.update().where(
    (volumes.c.volume_id == _p('k_volume'))
    & (volumes.c.instance_uuid == _p('k_uuid'))).values(
    project_id=_p('v_project_id'), size_gb=_p('v_size_gb'),
    volume_type=_p('v_volume_type'),
    delete_on_termination=_p('v_delete_on_termination'))
_DELETE_MAPPINGS = mappings.delete().where(
    (mappings.c.instance_uuid == _p('k_uuid'))
    & (mappings.c.phase == _p('k_phase')))
_ATTACHED = ((volumes.c.instance_uuid == _p('k_uuid'))
             & (volumes.c.fate == 'attached'))
_DELETED_WITH_INSTANCE = volumes.update().where(
    _ATTACHED & (volumes.c.delete_on_termination == sa.true())).values(
    fate='deleted_with_instance', fate_at=_p('v_at'))
_RETAINED = volumes.update().where(_ATTACHED).values(
    fate='retained', fate_at=_p('v_at'))
_INSERT_MAPPINGS = mappings.insert()


def _upsert_instance(conn: Any, uuid: str, **values: Any) -> None:
    params = {'v_' + name: value for name, value in values.items()}
    params['k_uuid'] = uuid
    updated = db.execute(conn, _update_instance(tuple(sorted(values))),
                       params).rowcount
    if not updated:
        values.setdefault('state', 'requested')
        conn.execute(instances.insert().values(uuid=uuid, **values))


def replace_mappings(conn: Any, uuid: str, phase: str,
                     devices: Sequence[BlockDevice]) -> None:
    """The mappings of one instance and phase, replaced whole (a repeated
    hook call for the same instance and phase writes the same rows)."""
    stamp = timeutils.utcnow()
    db.execute(conn, _DELETE_MAPPINGS, {'k_uuid': uuid, 'k_phase': phase})
    rows = [dict({f: getattr(d, f) for f in MAPPING_FIELDS},
                 instance_uuid=uuid, phase=phase, position=i,
                 bdm_uuid=d.uuid, recorded_at=stamp)
            for i, d in enumerate(devices)]
    if rows:
        db.execute(conn, _INSERT_MAPPINGS, rows)


def record_requested(conn: Any, uuid: str, project_id: Optional[str],
                     devices: Sequence[BlockDevice]) -> None:
    _upsert_instance(conn, uuid, project_id=project_id,
                     requested_at=timeutils.utcnow())
    replace_mappings(conn, uuid, 'requested', devices)


def record_built(conn: Any, uuid: str, project_id: Optional[str],
                 host: Optional[str],
                 devices: Optional[Sequence[BlockDevice]]) -> None:
    """The instance is up on ``host`` with ``devices`` (``None``: not
    told, the mappings already recorded stay)."""
    stamp = timeutils.utcnow()
    _upsert_instance(conn, uuid, project_id=project_id, host=host,
                     state='built', built_at=stamp)
    if devices is None:
        return
    replace_mappings(conn, uuid, 'built', devices)
    for device in devices:
        if device.volume_id and device.destination_type == 'volume':
            _upsert_volume(conn, device, uuid, project_id, stamp)


def _upsert_volume(conn: Any, device: BlockDevice, uuid: str,
                   project_id: Optional[str],
                   stamp: datetime.datetime) -> None:
    values = dict(project_id=project_id, size_gb=device.volume_size,
                  volume_type=device.volume_type,
                  delete_on_termination=device.delete_on_termination)
    params = {'v_' + name: value for name, value in values.items()}
    params.update(k_volume=device.volume_id, k_uuid=uuid)
    if not db.execute(conn, _UPDATE_VOLUME, params).rowcount:
        conn.execute(volumes.insert().values(
            volume_id=device.volume_id, instance_uuid=uuid, fate='attached',
            attached_at=stamp, **values))


def record_deleting(conn: Any, uuid: str, project_id: Optional[str],
                    host: Optional[str],
                    devices: Optional[Sequence[BlockDevice]]) -> None:
    """The mappings as they are at deletion (delete pre; ``None``: not
    told)."""
    _upsert_instance(conn, uuid, project_id=project_id, host=host)
    if devices is None:
        return
    replace_mappings(conn, uuid, 'at_delete', devices)
    stamp = timeutils.utcnow()
    for device in devices:
        if device.volume_id and device.destination_type == 'volume':
            _upsert_volume(conn, device, uuid, project_id, stamp)


def record_deleted(conn: Any, uuid: str, project_id: Optional[str]) -> int:
    """The instance is gone: each of its attached volumes deleted with it
    (``delete_on_termination``) or retained. The mappings were recorded
    by :func:`record_deleting` in ``pre``. Returns how many volumes got
    their fate."""
    stamp = timeutils.utcnow()
    _upsert_instance(conn, uuid, project_id=project_id, state='deleted',
                     deleted_at=stamp)
    params = {'k_uuid': uuid, 'v_at': stamp}
    deleted = db.execute(conn, _DELETED_WITH_INSTANCE, params).rowcount
    kept = db.execute(conn, _RETAINED, params).rowcount
    return int(deleted + kept)


def retained(conn: Any, older_than: Optional[datetime.datetime] = None,
             project_id: Optional[str] = None) -> List[Any]:
    query = volumes.select().where(volumes.c.fate == 'retained')
    if older_than is not None:
        query = query.where(volumes.c.fate_at <= older_than)
    if project_id:
        query = query.where(volumes.c.project_id == project_id)
    return list(conn.execute(query.order_by(volumes.c.fate_at)))


def _chunks(items: Sequence[str], size: int = 500) -> Iterator[List[str]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def prune(conn: Any, before: datetime.datetime) -> Dict[str, int]:
    """Forget instances deleted before ``before``: their mappings, their
    volumes' rows and themselves; not one that still has a retained volume
    (an orphan candidate stays listed until it is dealt with)."""
    gone = [row.uuid for row in conn.execute(instances.select().where(
        (instances.c.state == 'deleted') & (instances.c.deleted_at < before)))]
    kept: Set[str] = set()
    for chunk in _chunks(gone):
        kept |= {row.instance_uuid for row in conn.execute(
            volumes.select().where(volumes.c.instance_uuid.in_(chunk)
                                   & (volumes.c.fate == 'retained')))}
    drop = [uuid for uuid in gone if uuid not in kept]
    found = {'instances': 0, 'mappings': 0, 'volumes': 0}
    for chunk in _chunks(drop):
        found['mappings'] += conn.execute(mappings.delete().where(
            mappings.c.instance_uuid.in_(chunk))).rowcount
        found['volumes'] += conn.execute(volumes.delete().where(
            volumes.c.instance_uuid.in_(chunk))).rowcount
        found['instances'] += conn.execute(instances.delete().where(
            instances.c.uuid.in_(chunk))).rowcount
    return found
