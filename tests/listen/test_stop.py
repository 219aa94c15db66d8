"""``novahooks listen`` (the installed console script) stops within a few
seconds of SIGTERM whatever the broker does, and says at default
verbosity when it cannot reach it, the URL's password masked."""

import os
import pathlib
import re
import signal
import subprocess
import sys
import time
from typing import Tuple

from tests.listen.conftest import consumers, pool_of, wait_until
from tests.rabbit import RabbitServer
from tests.servers import free_tcp_port

#: The console script of the environment running the tests.
NOVAHOOKS = str(pathlib.Path(sys.executable).parent / 'novahooks')
CANARY = 'CanaryRabbitPw'


def start(config_file: pathlib.Path) -> 'subprocess.Popen[str]':
    env = dict(os.environ, NOVAHOOKS_CONFIG=str(config_file))
    return subprocess.Popen([NOVAHOOKS, 'listen'], env=env,
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def terminate(proc: 'subprocess.Popen[str]') -> Tuple[float, str]:
    """SIGTERM; how long until it exited, and everything it printed."""
    asked = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return time.monotonic() - asked, out + err


def test_sigterm_while_the_broker_cannot_be_reached(
        listen_conf: pathlib.Path) -> None:
    port = free_tcp_port()  # nothing listens there
    listen_conf.write_text(re.sub(
        r'^transport_url = .*$', 'transport_url = rabbit://guest:%s@'
        '127.0.0.1:%d/' % (CANARY, port), listen_conf.read_text(),
        flags=re.M))
    proc = start(listen_conf)
    assert proc.stderr is not None
    seen = ''
    deadline = time.monotonic() + 30
    while 'cannot reach the broker' not in seen:
        assert time.monotonic() < deadline, seen
        seen += proc.stderr.readline()
    took, printed = terminate(proc)
    printed = seen + printed
    assert proc.returncode == 0, printed
    assert took < 5.0, (took, printed)
    assert 'rabbit://guest:***@127.0.0.1:%d/' % port in printed
    assert CANARY not in printed


def test_sigterm_after_the_broker_was_killed_mid_stream(
        listen_conf: pathlib.Path, rabbit: RabbitServer) -> None:
    proc = start(listen_conf)
    try:
        wait_until(lambda: consumers(rabbit.url, pool_of(listen_conf)) == 1,
                   timeout=60, what='the listener consuming')
        os.kill(int(rabbit.info['pid']), signal.SIGKILL)
        assert rabbit.process is not None
        rabbit.process.wait(timeout=30)
        time.sleep(1.0)  # the listener notices and starts reconnecting
        took, printed = terminate(proc)
        assert proc.returncode == 0, printed
        assert took < 8.0, (took, printed)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        rabbit.process = None
        rabbit.start()
