"""``novahooks webhook pending|failed|replay|test`` (``-f table|json|csv``).
"""

import datetime
from typing import Any, List, Tuple

from oslo_utils import timeutils

from novahooks_core.cli import base
from novahooks_core.containment import redact
from novahooks_webhook import events, state

Rows = Tuple[Tuple[str, ...], List[Tuple[Any, ...]]]

COLUMNS = ('ID', 'Endpoint', 'Instance', 'Sequence', 'Type', 'Attempts')


def _service() -> Any:
    with base.needs('webhook', 'webhook'):
        from novahooks_webhook import service
        found = service.service()
    found.ready()  # reports include what was spooled
    return found


def _stamp(value: Any) -> str:
    return value.isoformat() if value else ''


def _row(row: Any, *more: Any) -> Tuple[Any, ...]:
    return (row.id, row.endpoint, row.instance_uuid, row.sequence,
            row.event_type, row.attempts) + more


class _Outbox(base.Lister):
    status = state.PENDING

    def get_parser(self, prog_name: str) -> Any:
        parser = super().get_parser(prog_name)
        parser.add_argument('--endpoint', metavar='NAME')
        return parser

    def rows(self, parsed_args: Any) -> List[Any]:
        with _service().engine.connect() as conn:
            return state.rows(conn, self.status, parsed_args.endpoint)


class Pending(_Outbox):
    """Events waiting to be delivered, oldest first."""

    def take_action(self, parsed_args: Any) -> Rows:
        return (COLUMNS + ('Next attempt', 'Last error'),
                [_row(r, _stamp(r.next_at), r.last_error or '')
                 for r in self.rows(parsed_args)])


class Failed(_Outbox):
    """Dead-lettered events (exit 1 if any)."""

    status = state.DEAD

    def take_action(self, parsed_args: Any) -> Rows:
        found = self.rows(parsed_args)
        self.failed = bool(found)
        return (COLUMNS + ('Failed at', 'Error'),
                [_row(r, _stamp(r.done_at), r.last_error or '')
                 for r in found])


class Replay(base.Lister):
    """Queue dead-lettered events again (the given IDs, else all); with
    --endpoint, also enable that endpoint again after a 410. A replayed
    event arrives after its instance's later ones: receivers order by
    ``sequence``."""

    def get_parser(self, prog_name: str) -> Any:
        parser = super().get_parser(prog_name)
        parser.add_argument('ids', nargs='*', type=int, metavar='ID')
        parser.add_argument('--endpoint', metavar='NAME')
        return parser

    def take_action(self, parsed_args: Any) -> Rows:
        found = _service()
        with found.engine.begin() as conn:
            if parsed_args.endpoint:
                state.enable(conn, parsed_args.endpoint)
            replayed = state.replay(conn, parsed_args.ids,
                                    parsed_args.endpoint)
        found.sender.ensure_worker()
        found.sender.flush(5.0)
        return COLUMNS, [_row(r) for r in replayed]


class Test(base.Lister):
    """Send a signed test event to an endpoint and show its answer (exit 1
    unless 2xx)."""

    def get_parser(self, prog_name: str) -> Any:
        parser = super().get_parser(prog_name)
        parser.add_argument('name', metavar='NAME')
        return parser

    def take_action(self, parsed_args: Any) -> Rows:
        from novahooks_webhook.delivery import Client
        found = _service()
        endpoint = found.endpoints.get(parsed_args.name)
        if endpoint is None:
            raise base.NotFound('no endpoint %s in [webhook] endpoints'
                                % parsed_args.name)
        now = timeutils.utcnow()
        event = {'attributes': {
            'type': events.PREFIX + 'test', 'source': found.source,
            'id': 'test-%s' % now.strftime('%Y%m%dT%H%M%S.%f'),
            'time': now.replace(tzinfo=datetime.timezone.utc).isoformat(),
            'datacontenttype': 'application/json'},
            'data': {'test': True}}
        client = Client(endpoint)
        try:
            answer = client.post(event)
        finally:
            client.close()
        self.failed = not (answer.status and 200 <= answer.status < 300)
        return (('Endpoint', 'URL', 'Status', 'Seconds', 'Answer'), [(
            endpoint.name, redact.mask_url(endpoint.url),
            answer.status or '', '%.3f' % answer.seconds,
            redact.scrub(answer.error or answer.body, [endpoint.secret]))])
