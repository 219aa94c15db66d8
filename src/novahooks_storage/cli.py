"""``novahooks storage ...`` reports (``-f table|json|csv``)."""

import collections
import datetime
from typing import Any, List, Tuple

from oslo_utils import timeutils

from novahooks_core.cli import base
from novahooks_storage import ledger
from novahooks_storage import service as storage_service

Rows = Tuple[Tuple[str, ...], List[Tuple[Any, ...]]]


def _stamp(value: Any) -> str:
    return value.isoformat() if value else ''


def _ledger() -> Any:
    storage = storage_service.service()
    storage.ensure_schema()
    storage.replay_spool()  # reports include what was spooled
    return storage.engine


class Retained(base.Lister):
    """Volumes kept after their instance was deleted (orphan candidates)."""

    READ_ONLY = True

    def get_parser(self, prog_name: str) -> Any:
        parser = super().get_parser(prog_name)
        parser.add_argument('--older-than', type=float, metavar='DAYS',
                            help='retained at least this many days ago')
        parser.add_argument('--project', metavar='ID')
        return parser

    def take_action(self, parsed_args: Any) -> Rows:
        before = None
        if parsed_args.older_than is not None:
            before = timeutils.utcnow() - datetime.timedelta(
                days=parsed_args.older_than)
        with _ledger().begin() as conn:
            rows = ledger.retained(conn, before, parsed_args.project)
        return (('Volume', 'Instance', 'Project', 'GB', 'Type',
                 'Retained at'),
                [(r.volume_id, r.instance_uuid, r.project_id or '',
                  r.size_gb, r.volume_type or '', _stamp(r.fate_at))
                 for r in rows])


class History(base.Lister):
    """An instance's mappings over its life, or a volume's instances."""

    READ_ONLY = True

    def get_parser(self, prog_name: str) -> Any:
        parser = super().get_parser(prog_name)
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument('uuid', nargs='?', help='instance UUID')
        group.add_argument('--volume', metavar='ID', help='volume ID')
        return parser

    def take_action(self, parsed_args: Any) -> Rows:
        with _ledger().begin() as conn:
            if parsed_args.volume:
                rows = list(conn.execute(ledger.volumes.select().where(
                    ledger.volumes.c.volume_id == parsed_args.volume
                ).order_by(ledger.volumes.c.attached_at)))
                if not rows:
                    raise base.NotFound('no volume %s in the ledger'
                                        % parsed_args.volume)
                return (('Volume', 'Instance', 'Project', 'GB',
                         'Delete on termination', 'Fate', 'Attached at',
                         'Fate at'),
                        [(r.volume_id, r.instance_uuid, r.project_id or '',
                          r.size_gb, r.delete_on_termination, r.fate,
                          _stamp(r.attached_at), _stamp(r.fate_at))
                         for r in rows])
            instance = conn.execute(ledger.instances.select().where(
                ledger.instances.c.uuid == parsed_args.uuid)).first()
            rows = list(conn.execute(ledger.mappings.select().where(
                ledger.mappings.c.instance_uuid == parsed_args.uuid
            ).order_by(ledger.mappings.c.recorded_at,
                       ledger.mappings.c.position)))
        if instance is None and not rows:
            raise base.NotFound('no instance %s in the ledger'
                                % parsed_args.uuid)
        state = instance.state if instance else 'unknown'
        return (('Instance state', 'Phase', 'Boot index', 'Source',
                 'Destination', 'Device', 'Volume', 'GB',
                 'Delete on termination', 'Recorded at'),
                [(state, r.phase, r.boot_index, r.source_type or '',
                  r.destination_type or '', r.device_name or '',
                  r.volume_id or '', r.volume_size,
                  r.delete_on_termination, _stamp(r.recorded_at))
                 for r in rows])


class Summary(base.Lister):
    """Per project: instances, volumes, GB, retained GB."""

    READ_ONLY = True

    def take_action(self, parsed_args: Any) -> Rows:
        with _ledger().begin() as conn:
            counts = collections.Counter(
                r.project_id for r in conn.execute(ledger.instances.select()))
            volumes = list(conn.execute(ledger.volumes.select()))
        projects = sorted(set(counts) | {r.project_id for r in volumes},
                          key=lambda p: p or '')
        rows = []
        for project in projects:
            mine = [r for r in volumes if r.project_id == project]
            rows.append((
                project or '', counts.get(project, 0), len(mine),
                sum(r.size_gb or 0 for r in mine),
                sum(r.size_gb or 0 for r in mine if r.fate == 'retained')))
        return (('Project', 'Instances', 'Volumes', 'GB', 'Retained GB'),
                rows)

