#!/usr/bin/env python3
"""Webhook plugin: the sender's throughput against a plain loop of signed
POSTs with the same client, to one local receiver, in the same run.

Queues N ``created`` events (N instances observed through the service,
not timed) on SQLite in a throw-away state dir; then times:

- loop: ``delivery.Client.post`` of each of those events, one after the
  other (signed by standardwebhooks, encoded by the CloudEvents SDK): the
  baseline;
- sender: ``Sender.flush`` until the outbox is delivered, with
  ``concurrency`` 1 and 4 (claims, the POSTs, and the outbox's updates).

The receiver (``http.server``, 127.0.0.1) answers 204 without reading the
event. Prints events per second and each sender's rate against the loop
(its target in targets.py). Asserts nothing on timings.

Usage: bench_webhook.py [--events N] [--quick] [--json]
"""

import argparse
import http.server
import json
import os
import sys
import tempfile
import threading
import time
from typing import Any, Dict, List

import targets

from novahooks_core import config
from novahooks_core.models import Instance
from novahooks_core.state import db
from novahooks_webhook import service as webhook_service
from novahooks_webhook import state
from novahooks_webhook.delivery import Client

SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'


class Answer(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers['Content-Length']))
        self.send_response(204)
        self.send_header('Content-Length', '0')
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def configure(directory: str, url: str, concurrency: int) -> None:
    path = os.path.join(directory, 'novahooks.conf')
    with open(path, 'w') as stream:
        stream.write('[DEFAULT]\nstate_dir = %s\nenabled_plugins = webhook\n'
                     '[webhook]\nendpoints = bench\npoll_seconds = 3600\n'
                     '[webhook:bench]\nurl = %s\nsecret = %s\n'
                     'concurrency = %d\n' % (os.path.join(directory, 'state'),
                                             url, SECRET, concurrency))
    config.reset()
    config.load(path)
    webhook_service.reset()
    db.reset()


def queued(count: int) -> List[Any]:
    """Observe ``count`` instances (their ``created`` queued): the rows."""
    found = webhook_service.service()
    found.sender.ensure_worker = lambda: None  # type: ignore[method-assign]
    for n in range(count):
        found.observe(Instance(uuid='00000000-0000-0000-0000-%012d' % n,
                               display_name='i%d' % n, project_id='p',
                               host='c-1', vm_state='active'), None, None)
    with found.engine.connect() as conn:
        return state.rows(conn, state.PENDING)


def run(count: int) -> Dict[str, float]:
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Answer)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = 'http://127.0.0.1:%d/' % server.server_address[1]
    rates: Dict[str, float] = {}
    try:
        for concurrency in (1, 4):
            with tempfile.TemporaryDirectory() as directory:
                configure(directory, url, concurrency)
                rows = queued(count)
                found = webhook_service.service()
                if concurrency == 1:
                    client = Client(found.endpoints['bench'])
                    started = time.perf_counter()
                    for row in rows:
                        assert client.post(json.loads(row.body)).status \
                            == 204
                    rates['loop'] = count / (time.perf_counter() - started)
                    client.close()
                started = time.perf_counter()
                while not found.sender.flush(60.0):
                    pass
                rates['sender_c%d' % concurrency] = count / (
                    time.perf_counter() - started)
                with found.engine.connect() as conn:
                    assert len(state.rows(conn, state.DELIVERED)) == count
                webhook_service.reset()
    finally:
        server.shutdown()
    return rates


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument('--events', type=int, default=2000)
    parser.add_argument('--quick', action='store_true')
    parser.add_argument('--json', action='store_true')
    args = parser.parse_args()
    count = 200 if args.quick else args.events
    rates = run(count)
    if args.json:
        print(json.dumps(rates, indent=2))
        return 0
    target = targets.WEBHOOK_SENDER_RATIO
    print('%d events to a local receiver (Python %s)' % (
        count, sys.version.split()[0]))
    print('  loop of signed POSTs  %8.0f events/s' % rates['loop'])
    for name in ('sender_c1', 'sender_c4'):
        ratio = rates[name] / rates['loop']
        print('  %-21s %8.0f events/s  %.2fx  %s' % (
            name.replace('_c', ', concurrency '), rates[name], ratio,
            target.judged(ratio)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
