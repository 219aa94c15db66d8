"""The webhook plugin for operators: its spool when the database is
locked, ``novahooks check``, ``metrics`` and ``webhook
pending|failed|replay|test``."""

import json
import pathlib
import sqlite3
import subprocess
import sys
import time
from typing import Any, Tuple

from novahooks_core.testing import factories
from novahooks_webhook import service as webhook_service
from tests.conftest import cli
from tests.webhook.conftest import SECRET, Receiver, check_events, webhook_conf
from tests.webhook.test_hooks import LIFECYCLE, lifecycle


def test_a_locked_database_spools_and_loses_nothing(
        receiver: Receiver, tmp_path: pathlib.Path) -> None:
    webhook_conf(tmp_path, {'ops': receiver.url})
    # A process that has written before (its schema checked).
    webhook_service.service().ensure_schema()
    spool = tmp_path / 'state' / 'webhook-spool.jsonl'
    blocker = sqlite3.connect(str(tmp_path / 'state' / 'webhook.sqlite'),
                              timeout=0)
    blocker.execute('BEGIN EXCLUSIVE')
    try:
        started = time.monotonic()
        lifecycle()
        held = time.monotonic() - started
        text = spool.read_text()
        for secret in factories.SECRETS.values():
            assert secret not in text
        assert len(spool.read_text().splitlines()) == 5  # one per call
        assert receiver.events == []
    finally:
        blocker.rollback()
        blocker.close()
    # Six observations of 0.3 s each at most (write_budget_ms), not
    # SQLite's 5 s busy timeout three times each.
    assert held < 6 * 0.3 + 2.0
    received = receiver.wait(len(LIFECYCLE))
    assert receiver.types() == LIFECYCLE
    check_events(received)
    assert not spool.exists()


def check(path: pathlib.Path) -> Tuple[int, Any]:
    """``novahooks check`` in a process of its own: in this one, its
    checks (the listener's imports oslo.service, hence eventlet) left the
    test receiver's answers late for the tests after it."""
    result = subprocess.run(
        [sys.executable, '-m', 'novahooks_core.cli.app', '--config-file',
         str(path), 'check', '-f', 'json'], capture_output=True, text=True,
        timeout=120)
    return result.returncode, json.loads(result.stdout)


def test_check_reads_each_endpoint_group(tmp_path: pathlib.Path,
                                         receiver: Receiver) -> None:
    path = webhook_conf(tmp_path, {'ops': receiver.url},
                        endpoint_extra='read_timeot = 3')
    subprocess.run([sys.executable, '-m', 'novahooks_core.cli.app',
                    '--config-file', str(path), 'db', 'sync'], check=True,
                   capture_output=True, timeout=120)  # (check only reads)
    code, rows = check(path)
    bad = [r['Detail'] for r in rows if r['OK'] != 'yes']
    assert code == 1 and bad == [
        '[webhook:ops] read_timeot: unknown option (did you mean '
        'read_timeout?)']
    path.write_text(path.read_text().replace(SECRET, 'Canary-not-whsec')
                    .replace('read_timeot = 3', ''))
    code, rows = check(path)
    bad = [r['Detail'] for r in rows if r['OK'] != 'yes']
    assert code == 1 and bad == [
        'ValueError: [webhook:ops] secret must be whsec_ then base64']
    assert 'Canary' not in repr(rows)


def test_the_operator_commands(receiver: Receiver,
                               tmp_path: pathlib.Path) -> None:
    receiver.faults.append(('status', 422, {}))
    path = webhook_conf(tmp_path, {'ops': receiver.url})
    lifecycle()
    receiver.wait(len(LIFECYCLE) - 1)
    code, rows = cli('--config-file', str(path), 'webhook', 'failed',
                     '-f', 'json')
    assert code == 1 and [(r['Type'], r['Error']) for r in rows] == [
        ('io.novahooks.instance.created', 'HTTP 422')]
    code, pending = cli('--config-file', str(path), 'webhook', 'pending',
                        '-f', 'json')
    assert code == 0 and pending == []
    code, replayed = cli('--config-file', str(path), 'webhook', 'replay',
                         str(rows[0]['ID']), '-f', 'json')
    assert code == 0 and [r['ID'] for r in replayed] == [rows[0]['ID']]
    receiver.wait(len(LIFECYCLE))
    assert receiver.types()[-1] == 'created'  # after its instance's others
    assert cli('--config-file', str(path), 'webhook', 'failed')[0] == 0
    code, metrics = cli('--config-file', str(path), 'metrics')
    assert 'novahooks_webhook_delivered{endpoint="ops"} 6.0' in metrics
    assert 'novahooks_webhook_dead{endpoint="ops"} 0.0' in metrics
    code, answer = cli('--config-file', str(path), 'webhook', 'test', 'ops',
                       '-f', 'json')
    assert code == 0 and answer[0]['Status'] == 204
    assert receiver.events[-1]['type'] == 'io.novahooks.instance.test'
    receiver.faults.append(('status', 500, {}))
    assert cli('--config-file', str(path), 'webhook', 'test', 'ops')[0] == 1
    assert cli('--config-file', str(path), 'webhook', 'test', 'nope')[0] == 1
