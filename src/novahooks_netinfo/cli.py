"""``novahooks netinfo ...`` subcommands."""

import datetime
import json
from typing import Any, List, Tuple

from oslo_utils import timeutils

from novahooks_core import models, normalize
from novahooks_core.cli import base
from novahooks_netinfo import service as netinfo_service
from novahooks_netinfo import store

Rows = Tuple[Tuple[str, ...], List[Tuple[Any, ...]]]


def _engine() -> Any:
    netinfo = netinfo_service.service()
    netinfo.schema.ensure()
    return netinfo.engine


def _stored(uuid: str, column: str) -> Any:
    with _engine().begin() as conn:
        row = store.state(conn, uuid)
    if row is None:
        raise base.NotFound('no network info recorded for %s' % uuid)
    return json.loads(getattr(row, column) or 'null')


class Show(base.Lister):
    """The current normalized network info of an instance."""

    READ_ONLY = True

    def get_parser(self, prog_name: str) -> Any:
        parser = super().get_parser(prog_name)
        parser.add_argument('uuid')
        return parser

    def take_action(self, parsed_args: Any) -> Rows:
        network = _stored(parsed_args.uuid, 'network_json')
        rows = []
        for vif in network['vifs']:
            for subnet in vif['subnets'] or [{'ips': [], 'cidr': None}]:
                for ip in subnet['ips'] or [{'address': '',
                                             'floating_ips': []}]:
                    rows.append((vif['id'], vif['address'],
                                 vif['network_label'] or vif['network_id'],
                                 vif['type'], vif['active'],
                                 subnet['cidr'] or '', ip['address'],
                                 ','.join(ip['floating_ips'])))
        return (('VIF', 'MAC', 'Network', 'Type', 'Active', 'Subnet',
                 'Fixed IP', 'Floating IPs'), rows)


class History(base.Lister):
    """The changes and anomalies of an instance's network info."""

    READ_ONLY = True

    def get_parser(self, prog_name: str) -> Any:
        parser = super().get_parser(prog_name)
        parser.add_argument('uuid')
        return parser

    def take_action(self, parsed_args: Any) -> Rows:
        with _engine().begin() as conn:
            rows = store.history(conn, parsed_args.uuid)
            if not rows and store.state(conn, parsed_args.uuid) is None:
                raise base.NotFound('no network info recorded for %s'
                                    % parsed_args.uuid)
        return (('At', 'Kind', 'Anomaly', 'VIF', 'Detail'),
                [(r.at.isoformat(), r.kind, r.anomaly, r.vif_id or '',
                  r.detail) for r in rows])


def _since(text: str) -> datetime.datetime:
    """``--since``: hours ago, or an ISO time (UTC); else a usage error
    saying which forms are accepted."""
    try:
        return timeutils.utcnow() - datetime.timedelta(hours=float(text))
    except (ValueError, OverflowError):
        pass
    try:
        found = datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))
    except ValueError:
        raise base.UsageError(
            '--since: %r is neither a number of hours (24, 0.5) nor an ISO '
            'time (2026-11-30 or 2026-11-30T12:00:00, UTC)' % text) from None
    if found.tzinfo is not None:
        found = found.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return found


class Anomalies(base.Lister):
    """Anomalies of every instance (``--since`` an ISO time or hours)."""

    READ_ONLY = True

    def get_parser(self, prog_name: str) -> Any:
        parser = super().get_parser(prog_name)
        parser.add_argument('--since', metavar='HOURS|ISO-TIME')
        return parser

    def take_action(self, parsed_args: Any) -> Rows:
        since = _since(parsed_args.since) if parsed_args.since else None
        with _engine().begin() as conn:
            rows = store.anomalies(conn, since)
        return (('At', 'Instance', 'Kind', 'VIF', 'Detail'),
                [(r.at.isoformat(), r.uuid, r.kind, r.vif_id or '',
                  r.detail) for r in rows])


class LastGood(base.Command):
    """The last non-empty network info of an instance, in Nova's format.

    The JSON of instance_info_caches.network_info (a list of VIFs, each
    with a nested network), ready to restore an emptied cache.
    """

    READ_ONLY = True

    def get_parser(self, prog_name: str) -> Any:
        parser = super().get_parser(prog_name)
        parser.add_argument('uuid')
        return parser

    def take_action(self, parsed_args: Any) -> int:
        network = _stored(parsed_args.uuid, 'last_good_json')
        if network is None:
            raise base.NotFound('no non-empty network info recorded for %s'
                                % parsed_args.uuid)
        self.app.stdout.write(json.dumps(normalize.nova_network_info(
            models.network_info_from_primitive(network)), indent=2,
            sort_keys=True) + '\n')
        return 0
