"""``novahooks listen`` against a real RabbitMQ (tools/rabbitmq-server.sh),
with Nova 34's own notification samples (fetched from PyPI at test time)
and the DNS (real BIND), storage and netinfo plugins behind it."""

import contextlib
import pathlib
import re
import sqlite3
import subprocess
import threading
import time
from typing import Any, Callable, Dict, Iterator, List
import uuid as uuid_module

import pytest

from novahooks_core import config
from novahooks_core.state import db
from novahooks_core.testing import samples
from novahooks_netinfo import service as netinfo_service
from novahooks_storage import service as storage_service
from tests.dns.conftest import (  # noqa: F401
    BindServer,
    _fresh_dns_service,
    bind,
    clean_zones,
    write_conf,
)
from tests.rabbit import Publisher, RabbitServer, rabbit  # noqa: F401


@pytest.fixture(scope='session')
def samples_dir() -> pathlib.Path:
    """Nova 34.0.0's doc/notification_samples (downloaded once)."""
    return samples.fetch()


@pytest.fixture
def publisher(rabbit: RabbitServer,  # noqa: F811
              tmp_path: pathlib.Path) -> Iterator[Publisher]:
    sender = Publisher(rabbit.url, tmp_path)
    yield sender
    sender.close()


LISTEN_CONF = '''
[listen]
transport_url = %(url)s
pool = %(pool)s
retry_delay = 0.1

[oslo_messaging_rabbit]
amqp_durable_queues = true
rabbit_retry_interval = 1
rabbit_retry_backoff = 1

[storage]
database_url = sqlite:///%(state)s/storage.sqlite

[netinfo]
database_url = sqlite:///%(state)s/netinfo.sqlite
'''


def write_listen_conf(path: pathlib.Path, bind_server: BindServer,
                      state: pathlib.Path, url: str, pool: str,
                      plugins: str = 'audit,dns,storage,netinfo') -> None:
    """DNS on ``bind_server`` (rfc2136), storage and netinfo on SQLite in
    ``state``, and the listener on the broker at ``url``."""
    write_conf(path, bind_server, state)
    text = path.read_text().replace('enabled_plugins = dns',
                                    'enabled_plugins = %s' % plugins)
    path.write_text(text + LISTEN_CONF % {'url': url, 'pool': pool,
                                          'state': state})
    config.reset()
    config.load(str(path))


@pytest.fixture
def listen_conf(bind: BindServer, rabbit: RabbitServer,  # noqa: F811
                tmp_path: pathlib.Path,
                monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """The configuration file of this test's listener (its own pool)."""
    path = tmp_path / 'novahooks.conf'
    monkeypatch.setenv(config.CONFIG_ENV, str(path))
    write_listen_conf(path, bind, tmp_path / 'state', rabbit.url,
                      'novahooks-test-%s' % uuid_module.uuid4().hex[:8])
    storage_service.reset()
    netinfo_service.reset()
    db.reset()
    return path


class Running:
    """A listener running in a thread of the test process."""

    def __init__(self) -> None:
        from novahooks_core.notify.runtime import Listener
        self.listener = Listener()
        ready = threading.Event()
        self.thread = threading.Thread(target=self.listener.run,
                                       args=(ready,), daemon=True)
        self.thread.start()
        assert ready.wait(30), 'listener did not start'

    def stats(self) -> Dict[str, int]:
        return self.listener.stats.snapshot()

    def stop(self) -> None:
        self.listener.request_stop()
        self.thread.join(60)
        assert not self.thread.is_alive()


@pytest.fixture
def running(listen_conf: pathlib.Path) -> Iterator[Callable[[], Running]]:
    """Start a listener on this test's configuration (stopped after)."""
    started: List[Running] = []

    def start() -> Running:
        started.append(Running())
        return started[-1]
    yield start
    for item in started:
        if item.thread.is_alive():
            item.stop()
    storage_service.reset()
    netinfo_service.reset()
    db.reset()


@pytest.fixture
def listeners() -> Iterator[List['subprocess.Popen[str]']]:
    """``novahooks listen`` processes a test starts (killed after)."""
    started: List[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def wait_until(check: Callable[[], Any], timeout: float = 30.0,
               what: str = 'condition') -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError('timed out waiting for %s (last: %r)'
                                 % (what, value))
        time.sleep(0.05)


def pool_of(config_file: pathlib.Path) -> str:
    """The listener pool (the queue's name) a test's configuration uses."""
    found = re.search(r'^pool = (\S+)$', config_file.read_text(), re.M)
    assert found is not None
    return found.group(1)


def consumers(url: str, queue: str) -> int:
    """How many consumers the broker counts on ``queue`` (0: no queue)."""
    import kombu
    with kombu.Connection(url.replace('rabbit://', 'amqp://', 1)) as conn:
        try:
            _, _, count = conn.default_channel.queue_declare(
                queue=queue, passive=True)
        except Exception:
            return 0
    return int(count)


def rows(state: pathlib.Path, database: str, query: str) -> List[Any]:
    """Rows of an SQLite database in ``state`` ([] before its tables)."""
    path = state / database
    if not path.exists():
        return []
    with contextlib.closing(sqlite3.connect(str(path))) as conn:
        try:
            return list(conn.execute(query))
        except sqlite3.OperationalError:  # tables not made yet
            return []
