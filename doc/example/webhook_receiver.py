"""A webhook receiver for novahooks' events: verifies each delivery with
the Standard Webhooks library, reads it with the CloudEvents SDK, drops
duplicates by ``id`` and hands each new event to ``on_event``.

Run it with ``WEBHOOK_SECRET=whsec_... python webhook_receiver.py 8080``.
(``tests/webhook`` runs this very file.)
"""

import http.server
import os
import sys
import threading
from typing import Any, Callable, Dict, Mapping

from standardwebhooks import Webhook

try:
    from cloudevents.v1.http import from_http  # cloudevents >= 2
except ImportError:
    from cloudevents.http import from_http  # cloudevents 1.x


class Receiver(http.server.BaseHTTPRequestHandler):
    """Verifies and reads each event; set ``webhook``, ``on_event`` and
    ``seen`` on a subclass (:func:`receiver`)."""

    webhook: Webhook
    on_event: Callable[[Any], None]
    seen: Dict[str, str]  # id -> sequence; keep it durable in real life
    lock = threading.Lock()

    def receive(self, body: bytes, headers: Mapping[str, str]) -> int:
        """The HTTP status to answer an event with."""
        try:
            self.webhook.verify(body, dict(headers))
        except Exception:
            return 401  # not signed with our secret, or too old
        event = from_http(dict(headers), body)
        with self.lock:
            new = event['id'] not in self.seen
            self.seen[event['id']] = event.get('sequence')
        if new:
            type(self).on_event(event)
        return 204

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers['Content-Length']))
        self.send_response(self.receive(body, self.headers))
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def receiver(secret: str, on_event: Callable[[Any], None],
             base: type = Receiver) -> type:
    """A :class:`Receiver` (or ``base``) class for ``secret``."""
    return type('Receiving', (base,), {
        'webhook': Webhook(secret), 'on_event': staticmethod(on_event),
        'seen': {}})


def main() -> None:
    def on_event(event: Any) -> None:
        print(event['type'], event['subject'], event['sequence'],
              flush=True)

    server = http.server.ThreadingHTTPServer(
        ('127.0.0.1', int(sys.argv[1])),
        receiver(os.environ['WEBHOOK_SECRET'], on_event))
    server.serve_forever()


if __name__ == '__main__':
    main()
