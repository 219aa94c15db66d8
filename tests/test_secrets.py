"""Passwords inside configured URLs never reach the command line's output
or log lines, whether the server is unreachable or the URL malformed:
through the installed console script, as an operator runs it."""

import os
import pathlib
import subprocess
import sys
from typing import Tuple

import pytest

from novahooks_core.state import db
from novahooks_core.testing import NovaRunner, run_lifecycle
from novahooks_storage import service as storage_service
from tests.conftest import WriteConfig
from tests.servers import free_tcp_port

NOVAHOOKS = str(pathlib.Path(sys.executable).parent / 'novahooks')
CANARY = 'Canary7Db8Pw'


def run(config_file: pathlib.Path, *argv: str) -> Tuple[int, str]:
    done = subprocess.run(
        [NOVAHOOKS] + list(argv), stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=120,
        env=dict(os.environ, NOVAHOOKS_CONFIG=str(config_file)))
    return done.returncode, done.stdout + done.stderr


def storage_conf(tmp_path: pathlib.Path, url: str) -> pathlib.Path:
    path = tmp_path / 'novahooks.conf'
    path.write_text('[DEFAULT]\nenabled_plugins = audit,storage\n'
                    'state_dir = %s\nwrite_budget_ms = 100\n'
                    '[storage]\ndatabase_url = %s\n' % (tmp_path / 's', url))
    return path


@pytest.mark.parametrize('url', [
    'postgresql+psycopg2://nova:%s@127.0.0.1:%d/ledger' % (
        CANARY, free_tcp_port()),                           # unreachable
    'postgresql+psycopg2://nova:%s@127.0.0.1:notaport/ledger' % CANARY,
    'postgresql//nova:%s@127.0.0.1/ledger' % CANARY,        # no scheme
    'nosuchdialect://nova:%s@127.0.0.1/ledger' % CANARY,
])
@pytest.mark.parametrize('command', [('check',), ('storage', 'retained'),
                                     ('-vv', 'storage', 'summary')])
def test_a_database_url_password_is_never_printed(
        tmp_path: pathlib.Path, url: str, command: Tuple[str, ...]) -> None:
    code, printed = run(storage_conf(tmp_path, url), *command)
    assert code != 0, printed  # it failed, and said something
    assert printed.strip()
    assert CANARY not in printed


@pytest.mark.parametrize('url', [
    'postgresql//nova:%s@127.0.0.1/ledger' % CANARY,
    'postgresql+psycopg2://nova:%s@127.0.0.1:notaport/ledger' % CANARY,
    'postgresql+psycopg2://nova:%s@127.0.0.1:%d/ledger' % (
        CANARY, free_tcp_port())])
def test_the_hook_path_logs_no_database_url_password(
        write_config: WriteConfig, caplog: pytest.LogCaptureFixture,
        url: str) -> None:
    """Inside Nova, where novahooks does not own the log handlers, the
    guard's own log lines (with their tracebacks) are scrubbed."""
    write_config(enabled_plugins='storage', write_budget_ms=100,
                 extra='[storage]\ndatabase_url = %s\n' % url)
    storage_service.reset()
    db.reset()
    try:
        run_lifecycle(NovaRunner())
    finally:
        storage_service.reset()
        db.reset()
    assert 'storage:' in caplog.text  # it failed or spooled, and said so
    assert CANARY not in caplog.text


@pytest.mark.parametrize('url', [
    'rabbit://guest:%s@127.0.0.1:notaport/' % CANARY,
    'rabbit//guest:%s@127.0.0.1/' % CANARY,
    'nosuchdriver://guest:%s@127.0.0.1/' % CANARY,
])
def test_a_transport_url_password_is_never_printed(
        tmp_path: pathlib.Path, url: str) -> None:
    path = tmp_path / 'novahooks.conf'
    path.write_text('[DEFAULT]\nstate_dir = %s\n[listen]\n'
                    'transport_url = %s\n' % (tmp_path / 's', url))
    code, printed = run(path, 'listen')
    assert code != 0 and printed.strip()
    assert CANARY not in printed
