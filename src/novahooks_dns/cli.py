"""``novahooks dns ...`` subcommands."""

import json
import sys
from typing import Any, Dict, List, Optional, Set, Tuple

from cliff import lister

from novahooks_dns import service as dns_service
from novahooks_dns import state
from novahooks_dns.backends import BackendError
from novahooks_dns.records import Record

Rows = Tuple[Tuple[str, ...], List[Tuple[Any, ...]]]


def _record_row(row: Any) -> Tuple[Any, ...]:
    return (row.instance_uuid, row.zone, row.name, row.rtype, row.value,
            row.ttl)


class Records(lister.Lister):
    """Records this plugin applied (all, or one instance's)."""

    def get_parser(self, prog_name: str) -> Any:
        parser = super().get_parser(prog_name)
        parser.add_argument('uuid', nargs='?', help='instance UUID')
        return parser

    def take_action(self, parsed_args: Any) -> Rows:
        dns = dns_service.service()
        with dns.engine.begin() as conn:
            rows = state.applied_records(conn, parsed_args.uuid)
        return (('Instance', 'Zone', 'Name', 'Type', 'Value', 'TTL'),
                [_record_row(r) for r in rows])


class Pending(lister.Lister):
    """Changes waiting in the outbox, with their last error."""

    def take_action(self, parsed_args: Any) -> Rows:
        dns = dns_service.service()
        with dns.engine.begin() as conn:
            rows = state.pending(conn)
        return (('Id', 'Instance', 'Op', 'Zone', 'Name', 'Type', 'Value',
                 'Attempts', 'Next attempt', 'Last error'),
                [(r.id, r.instance_uuid, r.op, r.zone, r.name, r.rtype,
                  r.value, r.attempts, r.next_attempt_at.isoformat(),
                  r.last_error or '') for r in rows])


class Flush(lister.Lister):
    """Apply every pending change now (ignoring backoff)."""

    def take_action(self, parsed_args: Any) -> Rows:
        dns = dns_service.service()
        result = dns.sender.flush(force=True)
        with dns.engine.begin() as conn:
            left = state.counts(conn)['pending']
        self.failed = bool(left)
        return (('Sent', 'Failed', 'Pending', 'Last error'),
                [(result.sent, result.failed, left,
                  result.errors[-1] if result.errors else '')])

    failed = False

    def run(self, parsed_args: Any) -> int:
        code = super().run(parsed_args)
        return 1 if self.failed else int(code or 0)


def _existing_instances(path: Optional[str]) -> Optional[Set[str]]:
    """UUIDs from ``openstack server list --all-projects -f json``."""
    if not path:
        return None
    with (sys.stdin if path == '-' else open(path)) as stream:
        servers = json.load(stream)
    return {str(s.get('ID') or s.get('id')) for s in servers}


def _progress(done: int, total: int) -> None:
    """A progress bar on a terminal; nothing in pipes and logs."""
    if total and sys.stderr.isatty():
        width = 30
        filled = int(width * done / total) if total else width
        sys.stderr.write('\rreconcile [%s%s] %d/%d' % (
            '#' * filled, '.' * (width - filled), done, total))
        if done == total:
            sys.stderr.write('\n')
        sys.stderr.flush()


class Reconcile(lister.Lister):
    """Compare applied records with the live zones and existing instances.

    Drift kinds: missing (applied but not served: re-added by --fix),
    stale (its instance no longer exists: removed by --fix), unmanaged
    (served, not ours: reported only).
    """

    def get_parser(self, prog_name: str) -> Any:
        parser = super().get_parser(prog_name)
        parser.add_argument(
            '--servers', metavar='FILE',
            help='JSON of "openstack server list --all-projects -f json" '
                 '("-" for stdin): instances not in it are stale')
        parser.add_argument('--fix', action='store_true',
                            help='queue and send the repairs')
        return parser

    def take_action(self, parsed_args: Any) -> Rows:
        dns = dns_service.service()
        existing = _existing_instances(parsed_args.servers)
        with dns.engine.begin() as conn:
            applied_rows = state.applied_records(conn)
        owners: Dict[Record, str] = {state.record_of(r): r.instance_uuid
                                     for r in applied_rows}
        zones = sorted({r.zone for r in owners} | {dns.settings.zone}
                       | set(dns.settings.reverse_zones))
        live: Set[Record] = set()
        for index, zone in enumerate(zones, 1):
            try:
                live |= dns.backend.records(zone, dns.backend_timeout())
            except BackendError as exc:
                raise RuntimeError('cannot read zone %s: %s'
                                   % (zone, exc)) from None
            _progress(index, len(zones))
        live_keys = {(r.zone, r.name, r.rtype, r.value) for r in live}
        drift: List[Tuple[str, str, Record]] = []
        for record, uuid in sorted(owners.items()):
            if existing is not None and uuid not in existing:
                drift.append(('stale', uuid, record))
            elif (record.zone, record.name, record.rtype,
                  record.value) not in live_keys:
                drift.append(('missing', uuid, record))
        owned = {(r.zone, r.name, r.rtype, r.value) for r in owners}
        for record in sorted(live):
            if (record.zone, record.name, record.rtype,
                    record.value) not in owned:
                drift.append(('unmanaged', '', record))
        if parsed_args.fix:
            self._fix(dns, drift)
        return (('Drift', 'Instance', 'Zone', 'Name', 'Type', 'Value'),
                [(kind, uuid, r.zone, r.name, r.rtype, r.value)
                 for kind, uuid, r in drift])

    @staticmethod
    def _fix(dns: Any, drift: List[Tuple[str, str, Record]]) -> None:
        by_instance: Dict[str, Tuple[List[Record], List[Record]]] = {}
        for kind, uuid, record in drift:
            if kind == 'missing':
                by_instance.setdefault(uuid, ([], []))[0].append(record)
            elif kind == 'stale':
                by_instance.setdefault(uuid, ([], []))[1].append(record)
        with dns.engine.begin() as conn:
            for uuid, (adds, deletes) in by_instance.items():
                state.enqueue(conn, uuid, adds, deletes)
                if deletes:
                    state.forget_instance(conn, uuid)
        dns.sender.flush()


class CheckDns(lister.Lister):
    """Server reachable, key accepted, zones served."""

    def take_action(self, parsed_args: Any) -> Rows:
        dns = dns_service.service()
        zones = [dns.settings.zone] + list(dns.settings.reverse_zones)
        results = dns.backend.check(zones)
        self.failed = any(not r.ok for r in results)
        return (('Check', 'OK', 'Detail'),
                [(r.what, 'yes' if r.ok else 'NO', r.detail)
                 for r in results])

    failed = False

    def run(self, parsed_args: Any) -> int:
        code = super().run(parsed_args)
        return 1 if self.failed else int(code or 0)

