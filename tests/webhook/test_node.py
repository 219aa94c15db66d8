"""A receiver in another language: the documentation's Node.js receiver
(``doc/example/webhook_receiver.js``, the npm ``standardwebhooks``
package, installed from the npm registry at test time) verifies every
delivery of a lifecycle."""

import json
import pathlib
import shutil
import socket
import subprocess
from typing import Any, Dict, Iterator, List

import pytest

from tests.webhook.conftest import EXAMPLE, SECRET, webhook_conf
from tests.webhook.test_hooks import LIFECYCLE, lifecycle, outbox, wait_for

SCRIPT = EXAMPLE.with_suffix('.js')


@pytest.fixture(scope='session')
def node_modules(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """``npm install standardwebhooks`` (once per session)."""
    found = tmp_path_factory.mktemp('npm')
    subprocess.run(['npm', 'install', '--no-audit', '--no-fund',
                    '--prefix', str(found), 'standardwebhooks'], check=True,
                   capture_output=True, timeout=300)
    return found / 'node_modules'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def node(node_modules: pathlib.Path) -> Iterator[Any]:
    port = free_port()
    process = subprocess.Popen(
        [shutil.which('node') or 'node', str(SCRIPT), str(port)],
        env={'NODE_PATH': str(node_modules), 'WEBHOOK_SECRET': SECRET,
             'PATH': '/usr/bin:/bin'},
        stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert json.loads(process.stdout.readline()) == {'listening': port}
    process.url = 'http://127.0.0.1:%d/' % port  # type: ignore[attr-defined]
    yield process
    process.kill()
    process.wait(10)


def test_a_nodejs_receiver_verifies_every_event(
        node: Any, tmp_path: pathlib.Path) -> None:
    """Every event verified and in order; an endpoint signing with another
    secret gets 401s (dead-lettered)."""
    webhook_conf(tmp_path, {'node': node.url, 'forged': node.url},
                 secrets={'forged': 'whsec_' + 'QUFB' * 8})
    lifecycle()
    events: List[Dict[str, Any]] = []
    while len(events) < len(LIFECYCLE):
        events.append(json.loads(node.stdout.readline()))
    assert [e['type'].rsplit('.', 1)[1] for e in events] == LIFECYCLE
    assert [e['sequence'] for e in events] == sorted(
        e['sequence'] for e in events)
    assert {e['subject'] for e in events} == {e['data']['uuid']
                                               for e in events}
    wait_for(lambda: len(outbox('dead', 'forged')) == len(LIFECYCLE))
    assert {row.last_error for row in outbox('dead', 'forged')} == {
        'HTTP 401'}
