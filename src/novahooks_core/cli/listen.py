"""The ``listen`` subcommands: ``listen``, ``listen failed``, ``listen
seed``, ``listen status`` (they need novahooks[listen])."""

from typing import Any, Dict, List, Tuple

from novahooks_core import config
from novahooks_core.cli import base

Rows = Tuple[Tuple[str, ...], List[Tuple[Any, ...]]]


class Listen(base.Command):
    """Run the enabled plugins from Nova's versioned notifications (Nova 22
    and later), until SIGTERM or SIGINT.

    Options are in [listen] of the configuration; needs novahooks[listen].
    It starts by saying what the configuration files hold that nothing
    reads (one WARNING each), and does not start (exit 2) when a value
    cannot be read or an enabled plugin is not installed (one ERROR
    each).
    """

    def take_action(self, parsed_args: Any) -> int:
        from novahooks_core.cli.commands import said_at_start
        if said_at_start('listen', config.files_read()):
            raise base.UsageError('listen not started: the configuration '
                                  'has the errors above')
        with base.needs('listen'):
            from novahooks_core.notify.runtime import Listener
            listener = Listener()
        listener.run()
        return 0


class ListenFailed(base.Lister):
    """Notifications ``novahooks listen`` gave up on, oldest first (from
    <state_dir>/listen-failed.jsonl).

    --replay feeds them (all, or those of the message ids given) through
    the handlers again, under the order guard, once the cause is fixed:
    those that succeed leave the list; exit 1 if any still fails.
    """

    def read_only(self, parsed_args: Any) -> bool:
        return not parsed_args.replay

    def get_parser(self, prog_name: str) -> Any:
        parser = super().get_parser(prog_name)
        parser.add_argument('--replay', action='store_true',
                            help='handle them again')
        parser.add_argument('ids', nargs='*', metavar='MESSAGE_ID',
                            help='with --replay: only these')
        return parser

    def take_action(self, parsed_args: Any) -> Rows:
        with base.needs('listen failed'):
            from novahooks_core.notify.endpoint import NotificationEndpoint
            from novahooks_core.notify.options import configured
            from novahooks_core.notify.parking import failed_journal
        if parsed_args.ids and not parsed_args.replay:
            raise base.UsageError('message ids go with --replay')
        if parsed_args.replay:
            endpoint = NotificationEndpoint(configured(), failed_journal())
            rows = endpoint.replay(parsed_args.ids)
            self.failed = any(r['outcome'] != 'ok' for r in rows)
            return (('Message id', 'Event type', 'Instance', 'Outcome',
                     'Reason'),
                    [(r.get('message_id'), r.get('event_type'),
                      r.get('instance'), r['outcome'], r['reason'])
                     for r in rows])
        columns = ('At', 'Event type', 'Instance', 'Outcome', 'Attempts',
                   'Reason', 'Message id')
        return (columns, [
            (r.get('at'), r.get('event_type'), r.get('instance'),
             r.get('outcome'), r.get('attempts'), r.get('reason'),
             r.get('message_id')) for r in failed_journal().records()])


class ListenSeed(base.Lister):
    """Tell ``novahooks listen`` the floating IPs Neutron has now, before
    it consumes Neutron's notifications ([listen] neutron = true).

    Floating IPs then come only from Neutron: one associated before the
    listener heard of it would otherwise be taken for none (its DNS record
    removed at the instance's next Nova notification). Run it once when
    turning [listen] neutron on; a floating IP a notification already told
    of is left as it is (the notification is newer). Exit 2 when the file
    is not a floating-IP list.
    """

    def get_parser(self, prog_name: str) -> Any:
        parser = super().get_parser(prog_name)
        parser.add_argument(
            '--floating-ips', metavar='FILE', required=True,
            help='JSON of "openstack floating ip list --long -f json" '
                 '("-" for stdin), as admin: every project\'s')
        return parser

    def take_action(self, parsed_args: Any) -> Rows:
        from novahooks_core.normalize import BadInput
        with base.needs('listen seed'):
            from novahooks_core.notify import neutron
            from novahooks_core.notify.endpoint import guard_for
            from novahooks_core.notify.options import configured
        expected = 'openstack floating ip list --long -f json'
        items = base.read_json_list(parsed_args.floating_ips,
                                    '--floating-ips', expected)
        try:
            found = neutron.from_floating_ip_list(items)
        except BadInput as exc:
            raise base.UsageError('--floating-ips: %s: %s (expected the '
                                  'output of "%s")' % (
                                      parsed_args.floating_ips, exc,
                                      expected)) from None
        kept = guard_for(configured()).seed(found)
        return (('ID', 'Floating IP', 'Port', 'Fixed IP', 'Action'),
                [(f.id, f.address, f.port_id or '', f.fixed_ip or '',
                  'kept' if new else 'known (newer)')
                 for f, new in zip(found, kept)])


class ListenStatus(base.Lister):
    """The listeners running with this state_dir: how far behind the bus
    each is (the age of the oldest message it handles), how fast it
    handles messages, and what it did.

    A listener that stopped (SIGTERM, Ctrl-C) is not listed; one killed
    (SIGKILL, a crash) or hung is shown ``dead`` until ``--prune`` clears
    it. ``Connected``: every bus it consumes is reached now (``no (1/2)``:
    one of two). Exit 1 when none is running, or one is dead, not
    connected, or behind ([listen] behind_seconds).
    """

    READ_ONLY = True

    def get_parser(self, prog_name: str) -> Any:
        parser = super().get_parser(prog_name)
        parser.add_argument('--prune', action='store_true',
                            help='clear the status of dead listeners '
                                 '(killed, or hung) first')
        return parser

    def take_action(self, parsed_args: Any) -> Rows:
        with base.needs('listen status'):
            from novahooks_core.notify import lag
        directory = config.state_dir(create=False)
        if parsed_args.prune:
            for gone in lag.prune_statuses(directory):
                self.app.stderr.write(
                    'novahooks: cleared the status of listener %s (dead: '
                    'last written %.0f s ago)\n'
                    % (gone.get('pid'), gone['written_seconds_ago']))
        found = lag.read_statuses(directory)
        self.failed = not any(s['running'] for s in found) or any(
            s.get('behind') or not s['running'] or not _connected(s)
            for s in found)
        if not found:
            self.app.stderr.write('novahooks: no listener runs with '
                                  'state_dir %s\n' % directory)
        columns = ('PID', 'Running', 'Connected', 'Lag (s)', 'Rate (/s)',
                   'In flight', 'Behind', 'Handled', 'Parked', 'Failed',
                   'Pool', 'Updated')
        return (columns, [
            (s.get('pid'), 'yes' if s['running'] else 'dead',
             _shown_connected(s), s.get('lag_seconds'),
             s.get('rate_per_second'),
             s.get('in_flight'), 'YES' if s.get('behind') else 'no',
             (s.get('counts') or {}).get('handled', 0),
             (s.get('counts') or {}).get('parked', 0),
             (s.get('counts') or {}).get('failed', 0), s.get('pool'),
             s.get('updated_at')) for s in found])


def _connected(status: Dict[str, Any]) -> bool:
    """Whether a status file says its listener reaches every bus (one of
    a release that did not say: whether it consumes)."""
    buses = status.get('buses') or []
    return bool(status.get('connected', all(
        bus.get('consuming') for bus in buses)))


def _shown_connected(status: Dict[str, Any]) -> str:
    if not status['running']:
        return '-'
    if _connected(status):
        return 'yes'
    buses = status.get('buses') or []
    if len(buses) > 1:
        return 'no (%d/%d)' % (sum(1 for bus in buses if bus.get(
            'connected', bus.get('consuming'))), len(buses))
    return 'no'
