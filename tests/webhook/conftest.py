"""A real HTTP receiver on 127.0.0.1 (the documentation's own,
``doc/example/webhook_receiver.py``): every delivery verified with the
Standard Webhooks library and read with the CloudEvents SDK; a script of
faults (an HTTP status, with headers; a slow answer) it plays first."""

import collections
import http.server
import importlib.util
import pathlib
import threading
import time
from typing import Any, Deque, Dict, Iterator, List, Optional, Tuple

import jsonschema
import pytest

from novahooks_core import config
from novahooks_core.state import db
from novahooks_webhook import events
from novahooks_webhook import service as webhook_service

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / 'doc' / 'example' \
    / 'webhook_receiver.py'
SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'


def example() -> Any:
    """The documentation's receiver module."""
    spec = importlib.util.spec_from_file_location('webhook_receiver',
                                                  EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: A fault: ('status', code, headers) answers that instead of receiving;
#: ('slow', seconds) receives after that long.
Fault = Tuple[Any, ...]


class Receiver:
    """The receiver's server and what it saw."""

    def __init__(self, secret: str = SECRET) -> None:
        module = example()
        self.faults: Deque[Fault] = collections.deque()
        #: Every request: (arrival monotonic time, headers, body).
        self.requests: List[Tuple[float, Dict[str, str], bytes]] = []
        #: Every event received (verified), duplicates included.
        self.arrivals: List[Any] = []
        #: New events, in the order received (the example's dedupe).
        self.events: List[Any] = []
        #: Statuses answered.
        self.answers: List[int] = []
        outer = self

        class Scripted(module.Receiver):  # type: ignore[misc,name-defined]
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers['Content-Length']))
                with outer.lock:
                    outer.requests.append((time.monotonic(),
                                           dict(self.headers), body))
                    fault = outer.faults.popleft() if outer.faults else None
                if fault is not None and fault[0] == 'status':
                    status = fault[1]
                    self.send_response(status)
                    for name, value in fault[2].items():
                        self.send_header(name, value)
                    self.end_headers()
                    outer.answers.append(status)
                    return
                if fault is not None and fault[0] == 'slow':
                    time.sleep(fault[1])
                status = self.receive(body, self.headers)
                if status < 300:
                    with outer.lock:
                        outer.arrivals.append(module.from_http(
                            dict(self.headers), body))
                outer.answers.append(status)
                try:
                    self.send_response(status)
                    self.end_headers()
                except OSError:  # the sender gave up waiting
                    pass

        self.lock = threading.Lock()
        self.server = http.server.ThreadingHTTPServer(
            ('127.0.0.1', 0), module.receiver(secret, self.events.append,
                                              Scripted))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return 'http://127.0.0.1:%d/hooks' % self.server.server_address[1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def types(self, uuid: Optional[str] = None) -> List[str]:
        """Kinds of the new events (of instance ``uuid``), in order."""
        return [event['type'][len(events.PREFIX):] for event in self.events
                if uuid is None or event['subject'] == uuid]

    def wait(self, count: int, timeout: float = 30.0) -> List[Any]:
        deadline = time.monotonic() + timeout
        while len(self.events) < count:
            if time.monotonic() > deadline:
                raise AssertionError('%d event(s) received, not %d: %s' % (
                    len(self.events), count, self.types()))
            time.sleep(0.02)
        return list(self.events)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


CONF = '''[DEFAULT]
state_dir = %(state)s
enabled_plugins = %(plugins)s
write_budget_ms = 300

[webhook]
endpoints = %(names)s
source = /test-region
retry_initial_seconds = 0.05
retry_max_seconds = 0.2
poll_seconds = 0.05
%(extra)s
'''

ENDPOINT = '''
[webhook:%(name)s]
url = %(url)s
secret = %(secret)s
read_timeout = 1
%(extra)s
'''


def webhook_conf(tmp_path: pathlib.Path, endpoints: Dict[str, str],
                 plugins: str = 'webhook', extra: str = '',
                 endpoint_extra: str = '',
                 secrets: Optional[Dict[str, str]] = None) -> pathlib.Path:
    """A configuration sending to ``endpoints`` (name: url), each signing
    with :data:`SECRET` unless ``secrets`` names another, loaded."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / 'novahooks.conf'
    text = CONF % {'state': tmp_path / 'state', 'plugins': plugins,
                   'names': ','.join(endpoints), 'extra': extra}
    for name, url in endpoints.items():
        text += ENDPOINT % {'name': name, 'url': url,
                            'secret': (secrets or {}).get(name, SECRET),
                            'extra': endpoint_extra}
    path.write_text(text)
    config.reset()
    config.load(str(path))
    webhook_service.reset()
    db.reset()
    return path


@pytest.fixture(autouse=True)
def _fresh_service() -> Iterator[None]:
    webhook_service.reset()
    yield
    webhook_service.reset()
    db.reset()


def check_events(received: List[Any]) -> None:
    """Every event is a CloudEvent 1.0 of ours whose ``data`` is valid;
    per instance (after dedupe by id), ``sequence`` strictly increases,
    the first is ``created`` and nothing follows ``deleted``."""
    schema = events.schema()
    last: Dict[str, str] = {}
    ended = set()
    for event in received:
        assert event['specversion'] == '1.0'
        assert event['datacontenttype'] == 'application/json'
        assert event['type'].startswith(events.PREFIX)
        jsonschema.validate(event.data, schema)
        uuid = event['subject']
        assert event.data['uuid'] == uuid
        assert uuid not in ended, 'event after deleted: %s' % event['type']
        if uuid not in last:
            assert event['type'] == events.type_of(events.CREATED)
        else:
            assert event['sequence'] > last[uuid]
        last[uuid] = event['sequence']
        if event['type'] == events.type_of(events.DELETED):
            ended.add(uuid)
