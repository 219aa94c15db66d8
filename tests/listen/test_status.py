"""``novahooks listen status`` (the installed console script) tells the
truth about ``novahooks listen`` processes on a real RabbitMQ: a listener
stopped cleanly leaves no status behind, even one stopped before it
reached its broker; one that cannot reach its broker, or whose broker was
killed, shows ``Connected no`` and makes status exit 1; a SIGKILLed one is
shown dead until ``listen status --prune`` clears it."""

import json
import os
import pathlib
import re
import signal
import subprocess
from typing import Any, Dict, List, Tuple

from tests.listen.conftest import consumers, pool_of, wait_until
from tests.listen.test_stop import NOVAHOOKS, start, terminate
from tests.rabbit import RabbitServer
from tests.servers import free_tcp_port


def status(config_file: pathlib.Path, *args: str
           ) -> Tuple[int, List[Dict[str, Any]], str]:
    """``novahooks listen status -f json``: its exit code, rows, stderr."""
    env = dict(os.environ, NOVAHOOKS_CONFIG=str(config_file))
    done = subprocess.run([NOVAHOOKS, 'listen', 'status', '-f', 'json',
                           *args], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    rows = json.loads(done.stdout) if done.stdout.strip() else []
    return done.returncode, rows, done.stderr


def state_dir(config_file: pathlib.Path) -> pathlib.Path:
    found = re.search(r'^state_dir = (.*)$', config_file.read_text(),
                      flags=re.M)
    assert found is not None
    return pathlib.Path(found.group(1).strip())


def status_files(config_file: pathlib.Path) -> List[pathlib.Path]:
    return sorted(state_dir(config_file).glob('listen-status.*.json'))


def row_of(rows: List[Dict[str, Any]], pid: int) -> Dict[str, Any]:
    found = [row for row in rows if row['PID'] == pid]
    assert len(found) == 1, rows
    return found[0]


def unreachable(listen_conf: pathlib.Path) -> pathlib.Path:
    """A configuration beside ``listen_conf`` (same state_dir) whose broker
    cannot be reached."""
    other = listen_conf.with_name('unreachable.conf')
    other.write_text(re.sub(
        r'^transport_url = .*$', 'transport_url = rabbit://guest:guest@'
        '127.0.0.1:%d/' % free_tcp_port(), listen_conf.read_text(),
        flags=re.M))
    return other


def test_a_listener_that_cannot_reach_its_broker_is_not_connected(
        listen_conf: pathlib.Path, rabbit: RabbitServer,
        listeners: List['subprocess.Popen[str]']) -> None:
    """Not connected: status says so and exits 1; stopped by SIGTERM
    before it ever reached the broker, it leaves no status behind, and a
    healthy listener's status is then exit 0."""
    lost = start(unreachable(listen_conf))
    listeners.append(lost)
    wait_until(lambda: status_files(listen_conf), timeout=30,
               what='the status file of the listener without a broker')
    code, rows, _ = status(listen_conf)
    assert code == 1
    assert row_of(rows, lost.pid)['Connected'] == 'no'
    assert row_of(rows, lost.pid)['Running'] == 'yes'
    _, printed = terminate(lost)
    assert lost.returncode == 0, printed
    assert status_files(listen_conf) == []
    healthy = start(listen_conf)
    listeners.append(healthy)
    wait_until(lambda: consumers(rabbit.url, pool_of(listen_conf)) == 1,
               timeout=60, what='the healthy listener consuming')
    wait_until(lambda: status(listen_conf)[0] == 0, timeout=30,
               what='status exit 0 with the healthy listener')
    code, rows, _ = status(listen_conf)
    assert [row['PID'] for row in rows] == [healthy.pid]
    assert rows[0]['Connected'] == 'yes'
    _, printed = terminate(healthy)
    assert healthy.returncode == 0, printed
    assert status_files(listen_conf) == []


def test_a_listener_whose_broker_was_killed_is_not_connected(
        listen_conf: pathlib.Path, rabbit: RabbitServer,
        listeners: List['subprocess.Popen[str]']) -> None:
    proc = start(listen_conf)
    listeners.append(proc)
    wait_until(lambda: consumers(rabbit.url, pool_of(listen_conf)) == 1,
               timeout=60, what='the listener consuming')
    wait_until(lambda: status(listen_conf)[0] == 0, timeout=30,
               what='status exit 0 while connected')
    try:
        os.kill(int(rabbit.info['pid']), signal.SIGKILL)
        assert rabbit.process is not None
        rabbit.process.wait(timeout=30)

        def disconnected() -> bool:
            code, rows, _ = status(listen_conf)
            return code == 1 and row_of(rows, proc.pid)['Connected'] == 'no'
        wait_until(disconnected, timeout=30,
                   what='status saying the listener lost its broker')
        _, printed = terminate(proc)
        assert proc.returncode == 0, printed
    finally:
        rabbit.process = None
        rabbit.start()  # the session's broker, for the tests after


def test_a_killed_listener_is_shown_dead_until_pruned(
        listen_conf: pathlib.Path, rabbit: RabbitServer,
        listeners: List['subprocess.Popen[str]']) -> None:
    dead = start(listen_conf)
    listeners.append(dead)
    wait_until(lambda: status(listen_conf)[0] == 0, timeout=60,
               what='status exit 0 while the first listener runs')
    dead.kill()
    dead.communicate()
    alive = start(listen_conf)
    listeners.append(alive)
    wait_until(lambda: {'PID': alive.pid, 'Connected': 'yes'}.items() <= {
        key: value for row in status(listen_conf)[1]
        if row['PID'] == alive.pid for key, value in row.items()}.items(),
        timeout=60, what='the second listener connected')
    code, rows, _ = status(listen_conf)
    assert code == 1  # one listener died without stopping
    assert row_of(rows, dead.pid)['Running'] == 'dead'
    assert row_of(rows, alive.pid)['Running'] == 'yes'
    code, rows, err = status(listen_conf, '--prune')
    assert 'cleared the status of listener %d' % dead.pid in err
    assert [row['PID'] for row in rows] == [alive.pid]
    assert code == 0
    assert [path.name for path in status_files(listen_conf)] == [
        'listen-status.%d.json' % alive.pid]
    code, rows, _ = status(listen_conf)
    assert (code, [row['PID'] for row in rows]) == (0, [alive.pid])
    _, printed = terminate(alive)
    assert alive.returncode == 0, printed
