"""The storage plugin's per-process service: options, the ledger
database (migrated on first use), the policy, and the core's durable spool
for records the database could not take in time
(:mod:`novahooks_core.state.spool`)."""

import contextlib
import os
from typing import (
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
)

from oslo_config import cfg
from oslo_log import log as logging

from novahooks_core import config, models, plugin
from novahooks_core.models import BlockDevice, CreateRequest
from novahooks_core.plugin import ProcessLocal
from novahooks_core.state import db
from novahooks_core.state.spool import Spool
from novahooks_storage import ledger, migrate, policy

LOG = logging.getLogger(__name__)

OPTS = [
    config.database_url_opt('the ledger (e.g. PostgreSQL shared by many '
                            'hosts)', 'storage'),
    cfg.IntOpt('write_attempts', default=3, min=1,
               help='Tries of a ledger write, within [DEFAULT] '
                    'write_budget_ms, before it is spooled to '
                    '<state_dir>/storage-spool.jsonl and replayed later. '
                    'Only failures that waiting can cure (unreachable, '
                    'locked, timed out) are tried again.'),
    cfg.IntOpt('max_volume_gb', default=0, min=0,
               help='Policy: largest volume a create may ask for (GB); 0: '
                    'no limit.'),
    cfg.IntOpt('max_total_gb', default=0, min=0,
               help='Policy: largest total of new volumes in one create '
                    '(all instances); 0: no limit.'),
    cfg.ListOpt('allowed_source_types', default=[],
                help='Policy: block-device source types allowed (blank, '
                     'image, snapshot, volume); empty: all.'),
    cfg.BoolOpt('image_volumes_delete_on_termination', default=False,
                help='Policy: volumes created from images must be deleted '
                     'with their instance.'),
    cfg.ListOpt('forbidden_device_types', default=[],
                help='Policy: device types (disk, cdrom, floppy, lun) '
                     'refused.'),
    cfg.StrOpt('policy_file', default='',
               help='JSON with per-project overrides of the rules above: '
                    '{"projects": {"<id>": {"max_volume_gb": 50}}}.'),
]

Op = Dict[str, Any]


class StorageService:
    """Shared by every storage hook of a process."""

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        group = conf.storage
        self.conf = conf
        self.engine = db.engine('storage', group.database_url or None)
        self.attempts = group.write_attempts
        self.rules = policy.Rules(
            max_volume_gb=group.max_volume_gb,
            max_total_gb=group.max_total_gb,
            allowed_source_types=tuple(group.allowed_source_types),
            image_volumes_delete_on_termination=(
                group.image_volumes_delete_on_termination),
            forbidden_device_types=tuple(group.forbidden_device_types))
        self.overrides = (policy.load_overrides(group.policy_file)
                          if group.policy_file else {})
        self.schema = db.Schema(self.engine, migrate.SCRIPTS,
                                'storage_alembic_version')
        self.spool = Spool(
            'storage', os.path.join(config.state_dir(), 'storage-spool.jsonl'),
            self.engine, self._apply, self.ensure_schema)

    # -- policy ---------------------------------------------------------

    def check(self, request: CreateRequest,
              project_id: Optional[str]) -> Optional[str]:
        rules = self.rules
        if project_id and project_id in self.overrides:
            rules = rules.merged(self.overrides[project_id])
        if not rules.active:
            return None
        found = policy.violation(request, rules)
        return ('storage policy (project %s): %s' % (project_id, found)
                if found else None)

    # -- writes ---------------------------------------------------------

    def write(self, op: Op) -> str:
        """Apply ``op`` to the ledger within ``[DEFAULT] write_budget_ms``;
        past it, spool it durably, so nothing is lost."""
        applied, _ = self.spool.write(op, config.write_budget(),
                                      self.attempts)
        return 'recorded' if applied else 'spooled'

    def ensure_schema(self) -> None:
        """The ledger at the newest schema (checked once per process)."""
        self.schema.ensure()

    def _apply(self, conn: Any, op: Op) -> None:
        kind, uuid, project_id, host, devices = _arguments(op)
        if kind == 'requested':
            ledger.record_requested(conn, uuid, project_id, devices or ())
        elif kind == 'built':
            ledger.record_built(conn, uuid, project_id, host, devices)
        elif kind == 'deleting':
            ledger.record_deleting(conn, uuid, project_id, host, devices)
        else:
            ledger.record_deleted(conn, uuid, project_id)

    @contextlib.contextmanager
    def batch(self, uuids: Iterable[str]) -> Iterator['Batch']:
        """The listener's batch: the ledger of its instances read at once,
        each operation decided in memory, in order, and written at once,
        in one transaction (a savepoint of the batch's unit of work)."""
        self.ensure_schema()
        with db.begin(self.engine) as conn:
            found = Batch(ledger.Batch(conn, uuids))
            yield found
            found.ledger.write()

    def waiting(self) -> bool:
        """Whether spooled operations wait to be replayed (new ones must
        go after them)."""
        return self.spool.journal.exists() and self.spool.depth() > 0

    def replay_spool(self) -> int:
        """Apply spooled operations in order (before any read or write);
        returns how many are still waiting (the database is unavailable)."""
        return self.spool.replay()[1]

    def spooled(self) -> int:
        return self.spool.depth()


class Batch:
    """A batch's ledger, written to like the service (:meth:`write`)."""

    def __init__(self, found: ledger.Batch) -> None:
        self.ledger = found

    def write(self, op: Op) -> str:
        """Apply ``op`` to the batch's ledger, in memory."""
        self.ledger.apply(*_arguments(op))
        return 'recorded'


def _arguments(op: Op) -> Tuple[str, str, Optional[str], Optional[str],
                                Optional[List[BlockDevice]]]:
    """:func:`ledger.record`'s arguments for ``op``."""
    if op['op'] not in ledger.KINDS:
        raise ValueError('unknown ledger operation %r' % op['op'])
    told = op.get('devices', ())
    return (op['op'], op['uuid'], op['project_id'], op.get('host'),
            None if told is None else [BlockDevice(**d) for d in told])


def op(kind: str, instance_uuid: str, project_id: Optional[str],
       devices: Optional[Sequence[BlockDevice]] = (),
       host: Optional[str] = None) -> Op:
    """A ledger operation as plain data (what the spool keeps);
    ``devices=None``: the source did not tell them."""
    return {'op': kind, 'uuid': instance_uuid, 'project_id': project_id,
            'host': host,
            'devices': None if devices is None else [
                models.to_primitive(d) for d in devices]}


_service = ProcessLocal(
    lambda: StorageService(plugin.configured('storage')))

#: The process's service for the current configuration.
service = _service.get
#: Forget the service (tests).
reset = _service.reset


__all__ = ['OPTS', 'Batch', 'StorageService', 'op', 'reset', 'service']
