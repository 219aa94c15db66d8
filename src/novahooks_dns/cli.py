"""``novahooks dns ...`` subcommands."""

import sys
from typing import Any, Dict, List, Mapping, Optional, Set, Tuple

from dns import reversename

from novahooks_core.cli import base
from novahooks_dns import service as dns_service
from novahooks_dns import state
from novahooks_dns.backends import BackendError
from novahooks_dns.records import Record, absolute

Rows = Tuple[Tuple[str, ...], List[Tuple[Any, ...]]]


def _record_row(row: Any) -> Tuple[Any, ...]:
    return (row.instance_uuid, row.zone, row.name, row.rtype, row.value,
            row.ttl)


class Records(base.Lister):
    """Records this plugin applied (all, or one instance's)."""

    READ_ONLY = True

    def get_parser(self, prog_name: str) -> Any:
        parser = super().get_parser(prog_name)
        parser.add_argument('uuid', nargs='?', help='instance UUID')
        return parser

    def take_action(self, parsed_args: Any) -> Rows:
        dns = dns_service.service()
        dns.ready()
        with dns.engine.begin() as conn:
            rows = state.applied_records(conn, parsed_args.uuid)
            if parsed_args.uuid and not rows and not state.is_tracked(
                    conn, parsed_args.uuid):
                raise base.NotFound('no DNS state for instance %s'
                                    % parsed_args.uuid)
        return (('Instance', 'Zone', 'Name', 'Type', 'Value', 'TTL'),
                [_record_row(r) for r in rows])


class Pending(base.Lister):
    """Changes waiting in the outbox, with their last error.

    Changes for a zone that is no longer configured are held: "held" in
    the Note column; configure the zone again, or discard them with
    "novahooks dns discard".
    """

    READ_ONLY = True

    def take_action(self, parsed_args: Any) -> Rows:
        dns = dns_service.service()
        spooled = dns.ready()
        with dns.engine.begin() as conn:
            rows = state.pending(conn)
        if spooled:
            self.app.stderr.write(
                '%d decision(s) wait in %s for the database\n'
                % (spooled, dns.spool.path))
        zones = set(dns.zones)
        return (('Id', 'Instance', 'Op', 'Zone', 'Name', 'Type', 'Value',
                 'Attempts', 'Next attempt', 'Last error', 'Note'),
                [(r.id, r.instance_uuid, r.op, r.zone, r.name, r.rtype,
                  r.value, r.attempts, r.next_attempt_at.isoformat(),
                  r.last_error or '',
                  '' if r.zone in zones else 'held: zone not configured')
                 for r in rows])


class Discard(base.Lister):
    """Discard pending changes on purpose (they are never sent).

    Select them by id, by --zone, by --instance (every selector given must
    match), or all those held for zones no longer configured (--held).
    """

    def get_parser(self, prog_name: str) -> Any:
        parser = super().get_parser(prog_name)
        parser.add_argument('ids', nargs='*', type=int, metavar='ID',
                            help='outbox ids (see "novahooks dns pending")')
        parser.add_argument('--zone', action='append', default=[],
                            help='changes for this zone (repeatable)')
        parser.add_argument('--instance', metavar='UUID')
        parser.add_argument('--held', action='store_true',
                            help='every change for a zone that is not '
                                 'configured')
        return parser

    def take_action(self, parsed_args: Any) -> Rows:
        dns = dns_service.service()
        dns.ready()
        zones = [absolute(z) for z in parsed_args.zone]
        if parsed_args.held:
            with dns.engine.begin() as conn:
                held = {r.zone for r in state.pending(conn)} - set(dns.zones)
            zones = sorted(held & set(zones)) if zones else sorted(held)
            if not zones:
                return _DISCARD_COLUMNS, []
        if not (parsed_args.ids or zones or parsed_args.instance):
            raise base.UsageError('say what to discard: IDs, --zone, '
                                  '--instance or --held')
        with dns.engine.begin() as conn:
            rows = state.discard(conn, parsed_args.ids, zones,
                                 parsed_args.instance)
        return _DISCARD_COLUMNS, [
            (r.id, r.instance_uuid, r.op, r.zone, r.name, r.rtype, r.value)
            for r in rows]


_DISCARD_COLUMNS = ('Discarded', 'Instance', 'Op', 'Zone', 'Name', 'Type',
                    'Value')


class Flush(base.Lister):
    """Apply every pending change now (ignoring backoff); exit 1 if any
    change is left (a server error, a held zone, the database down, or
    another process still sending it)."""

    def take_action(self, parsed_args: Any) -> Rows:
        dns = dns_service.service()
        result = dns.sender.flush(force=True)
        with dns.engine.begin() as conn:
            left = state.counts(conn)['pending']
            busy = state.claimed(conn)
        self.failed = bool(left or result.spooled)
        error = result.errors[-1] if result.errors else (
            '%d being sent by another process (a listener or a hook); '
            'if it died, they are free again within %.0f s' % (
                busy, dns.sender.lease_seconds) if busy else '')
        return (('Sent', 'Failed', 'Pending', 'Spooled', 'Last error'),
                [(result.sent, result.failed, left, result.spooled,
                  error)])


def _existing_instances(path: Optional[str]) -> Optional[Set[str]]:
    """UUIDs from ``openstack server list --all-projects -f json``; a
    :class:`UsageError` naming the file when it is anything else."""
    if not path:
        return None
    return {str(server.get('ID', server.get('id'))).strip()
            for server in base.read_json_list(
                path, '--servers', 'openstack server list --all-projects '
                '-f json')}


def _floating_ips(path: Optional[str]) -> Optional[Dict[str, Optional[str]]]:
    """Floating IP -> the fixed IP it is associated with (None: none),
    from ``openstack floating ip list --long -f json``."""
    if not path:
        return None
    from novahooks_core.normalize import BadInput
    from novahooks_core.notify import neutron
    expected = 'openstack floating ip list --long -f json'
    try:
        found = neutron.from_floating_ip_list(base.read_json_list(
            path, '--floating-ips', expected))
    except BadInput as exc:
        raise base.UsageError('--floating-ips: %s: %s (expected the output '
                              'of "%s")' % (path, exc, expected)) from None
    return {str(fip.address): fip.fixed_ip for fip in found}


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


Drift = Tuple[str, str, Record]


def find_drift(owners: Dict[Tuple[Record, str], None], live: Set[Record],
               existing: Optional[Set[str]]) -> List[Drift]:
    """Compare applied records (with their owners) with the live zones and
    the instances that exist: a pure function.

    missing: applied, not served; stale: its instance no longer exists;
    unmanaged: served, applied for no instance.
    """
    live_keys = {state.key_of(r) for r in live}
    drift: List[Drift] = []
    for record, uuid in sorted(owners):
        if existing is not None and uuid not in existing:
            drift.append(('stale', uuid, record))
        elif state.key_of(record) not in live_keys:
            drift.append(('missing', uuid, record))
    owned = {state.key_of(r) for r, _ in owners}
    drift.extend(('unmanaged', '', record) for record in sorted(live)
                 if state.key_of(record) not in owned)
    return drift


def floating_drift(owners: Dict[Tuple[Record, str], None],
                   floating: Mapping[str, Optional[str]]) -> List[Drift]:
    """Records of floating IPs (A/AAAA of the address, its PTR) that Neutron
    no longer associates with the instance holding them: the floating IP
    is associated with none of the instance's fixed IPs (its other
    address records), or with nothing. A pure function."""
    fixed: Dict[str, Set[str]] = {}
    for record, uuid in owners:
        if record.rtype in ('A', 'AAAA') and record.value not in floating:
            fixed.setdefault(uuid, set()).add(record.value)
    reverse = {reversename.from_address(address).to_text(): address
               for address in floating}
    drift: List[Drift] = []
    for record, uuid in sorted(owners):
        if record.rtype in ('A', 'AAAA'):
            address = record.value if record.value in floating else None
        else:
            address = reverse.get(record.name) if record.rtype == 'PTR' \
                else None
        if address is None:
            continue
        if floating[address] not in fixed.get(uuid, set()):
            drift.append(('floating', uuid, record))
    return drift


class Reconcile(base.Lister):
    """Compare applied records with the live zones and existing instances.

    Drift kinds: missing (applied but not served: re-added by --fix),
    stale (its instance no longer exists: removed by --fix), floating
    (with --floating-ips: a floating IP's record that Neutron no longer
    associates with its instance: removed by --fix), unmanaged (served,
    not ours: reported only). Exit 0 when there is no missing or
    stale record (or --fix repaired them all), 1 when some are left, 2 when
    --servers is not a server list. --fix refuses to remove the records
    of more than --max-remove percent of the managed instances unless
    --force.
    """

    def get_parser(self, prog_name: str) -> Any:
        parser = super().get_parser(prog_name)
        parser.add_argument(
            '--servers', metavar='FILE',
            help='JSON of "openstack server list --all-projects -f json" '
                 '("-" for stdin): instances not in it are stale')
        parser.add_argument(
            '--floating-ips', metavar='FILE',
            help='JSON of "openstack floating ip list --long -f json" '
                 '("-" for stdin): floating-IP records it does not '
                 'associate with their instance are drift')
        parser.add_argument('--fix', action='store_true',
                            help='queue and send the repairs')
        parser.add_argument('--max-remove', type=float, default=10.0,
                            metavar='PERCENT',
                            help='largest share of the managed instances '
                                 'whose records --fix may remove '
                                 '(default 10; at least one instance)')
        parser.add_argument('--force', action='store_true',
                            help='remove stale records beyond --max-remove')
        return parser

    def take_action(self, parsed_args: Any) -> Rows:
        dns = dns_service.service()
        existing = _existing_instances(parsed_args.servers)
        floating = _floating_ips(parsed_args.floating_ips)
        if parsed_args.servers == '-' and parsed_args.floating_ips == '-':
            raise base.UsageError('--servers and --floating-ips cannot '
                                  'both be standard input')
        dns.ready()
        with dns.engine.begin() as conn:
            applied_rows = state.applied_records(conn)
        holdable = dns.backend.record_types
        owners = {(state.record_of(r), r.instance_uuid): None
                  for r in applied_rows if r.rtype in holdable}
        zones = sorted({r.zone for r, _ in owners} | set(dns.zones))
        live: Set[Record] = set()
        for index, zone in enumerate(zones, 1):
            try:
                live |= dns.backend.records(zone, dns.backend_timeout())
            except BackendError as exc:
                raise RuntimeError('cannot read zone %s: %s'
                                   % (zone, exc)) from None
            _progress(index, len(zones))
        drift = find_drift(owners, live, existing)
        if floating is not None:
            listed = {(r, uuid) for kind, uuid, r in drift if kind == 'stale'}
            drift += [item for item in floating_drift(owners, floating)
                      if (item[2], item[1]) not in listed]
        actions = {index: '' for index in range(len(drift))}
        repairable = [i for i, (kind, _, _) in enumerate(drift)
                      if kind in ('missing', 'stale', 'floating')]
        if parsed_args.fix and repairable:
            self._fix(dns, drift, repairable, actions, owners, parsed_args)
        left = [i for i in repairable if actions[i] not in ('re-added',
                                                            'removed')]
        self.failed = bool(left)
        added = sum(1 for a in actions.values() if a == 're-added')
        removed = sum(1 for a in actions.values() if a == 'removed')
        self.app.stderr.write(
            'reconcile: %d missing, %d stale, %d floating, %d unmanaged; '
            '%d re-added, %d removed, %d left\n' % (
                sum(1 for k, _, _ in drift if k == 'missing'),
                sum(1 for k, _, _ in drift if k == 'stale'),
                sum(1 for k, _, _ in drift if k == 'floating'),
                sum(1 for k, _, _ in drift if k == 'unmanaged'),
                added, removed, len(left)))
        return (('Drift', 'Instance', 'Zone', 'Name', 'Type', 'Value',
                 'Action'),
                [(kind, uuid, r.zone, r.name, r.rtype, r.value, actions[i])
                 for i, (kind, uuid, r) in enumerate(drift)])

    def _fix(self, dns: Any, drift: List[Drift], repairable: List[int],
             actions: Dict[int, str], owners: Dict[Tuple[Record, str], None],
             parsed_args: Any) -> None:
        managed = {uuid for _, uuid in owners}
        stale = {drift[i][1] for i in repairable if drift[i][0] == 'stale'}
        allowed = max(1, int(len(managed) * parsed_args.max_remove / 100.0))
        remove = True
        if len(stale) > allowed and not parsed_args.force:
            remove = False
            self.app.stderr.write(
                'reconcile: refusing to remove the records of %d of %d '
                'managed instances (more than %g%%): is %s the complete '
                'server list of every project? --force removes them\n' % (
                    len(stale), len(managed), parsed_args.max_remove,
                    parsed_args.servers))
        by_instance: Dict[str, Tuple[List[int], List[int]]] = {}
        for i in repairable:
            kind, uuid, _ = drift[i]
            if kind == 'stale' and not remove:
                actions[i] = 'refused'
                continue
            by_instance.setdefault(uuid, ([], []))[
                0 if kind == 'missing' else 1].append(i)
        with dns.engine.begin() as conn:
            for uuid, (adds, deletes) in by_instance.items():
                state.lock_instance(conn, uuid)
                state.enqueue(conn, uuid, [drift[i][2] for i in adds], ())
                if deletes:
                    state.release_records(conn, uuid,
                                          [drift[i][2] for i in deletes])
                if uuid in stale:  # gone: not a floating IP's record only
                    state.forget_instance(conn, uuid)
        result = dns.sender.flush()
        for adds, deletes in by_instance.values():
            for i in adds:
                actions[i] = 're-added' if result.done else 'queued'
            for i in deletes:
                actions[i] = 'removed' if result.done else 'queued'


class CheckDns(base.Lister):
    """Server reachable, key accepted, zones served (exit 1 if not)."""

    READ_ONLY = True

    def take_action(self, parsed_args: Any) -> Rows:
        dns = dns_service.service()
        results = dns.backend.check(list(dns.zones))
        self.failed = any(not r.ok for r in results)
        return (('Check', 'OK', 'Detail'),
                [(r.what, 'yes' if r.ok else 'NO', r.detail)
                 for r in results])
