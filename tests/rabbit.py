"""A real RabbitMQ for the messaging tests (tools/rabbitmq-server.sh).

``rabbit`` (session fixture): a private broker on 127.0.0.1 on a free
port, in a fresh directory, stopped at the end of the session. Not in a
conftest, so only the tests that ask for it start it::

    from tests.rabbit import rabbit  # noqa: F401

    def test_something(rabbit: RabbitServer) -> None:
        transport = oslo_messaging.get_notification_transport(
            cfg.CONF, url=rabbit.url)

Needs Debian's ``rabbitmq-server`` (the script installs it with apt-get
when missing, as root); without it the fixture errors (it does not skip).
Clients (oslo.messaging, kombu) are the tests' business: this module only
speaks the AMQP protocol header to see the broker answer. The broker keeps
its data across :meth:`RabbitServer.stop` and :meth:`RabbitServer.start`
(durable queues, persistent messages), so a test can restart it; the data
is shared by the whole session: use unique queue and exchange names. The
directory is a ``mktemp -d`` under the system tmp, removed at the end
unless $NOVAHOOKS_KEEP_RABBIT is set.
"""

import json
import os
import pathlib
import socket
import subprocess
import tempfile
import time
from typing import Any, Dict, Iterator, Optional, Tuple

import pytest

from tests.servers import HOST, ROOT, ScriptServer, free_tcp_port

SCRIPT = ROOT / 'tools' / 'rabbitmq-server.sh'
RABBITMQCTL = pathlib.Path('/usr/lib/rabbitmq/bin/rabbitmqctl')
USER = 'guest'
PASSWORD = 'guest'
#: Where Nova publishes its versioned notifications (its defaults).
EXCHANGE = 'nova'
TOPIC = 'versioned_notifications'
# AMQP 0-9-1 protocol header: a broker answers with connection.start.
PROTOCOL_HEADER = b'AMQP\x00\x00\x09\x01'


def dist_port(port: int) -> int:
    """The Erlang distribution port the script gives a broker on ``port``
    (PORT + 20000, or PORT - 20000 when that is above 65535)."""
    return port + 20000 if port + 20000 <= 65535 else port - 20000


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_rabbit_port() -> int:
    """A free port on 127.0.0.1 whose distribution port is free too (and
    not the script's default)."""
    for _ in range(50):
        port = free_tcp_port(5699)
        if _port_free(dist_port(port)):
            return port
    raise RuntimeError('no free port')


def amqp_answers(port: int, host: str = HOST, timeout: float = 1.0) -> bool:
    """Does an AMQP 0-9-1 broker answer on ``host``:``port``?"""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(PROTOCOL_HEADER)
            # connection.start: a method frame (type 1).
            return sock.recv(1) == b'\x01'
    except OSError:
        return False


def wait_for_port(port: int, timeout: float = 30.0,
                  host: str = HOST) -> bool:
    """Wait until something accepts TCP connections on ``host``:``port``;
    False if nothing did within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return True
        except OSError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


class RabbitServer(ScriptServer):
    """rabbitmq-server run by tools/rabbitmq-server.sh in ``directory``."""

    script = SCRIPT
    logs = ('script.log', 'rabbitmq.log', 'log/*.log')
    stop_timeout = 90.0

    @classmethod
    def temporary(cls, port: Optional[int] = None) -> 'RabbitServer':
        """A broker in a new private directory under the system tmp."""
        directory = tempfile.mkdtemp(prefix='novahooks-rabbit-')
        return cls(pathlib.Path(directory), port or free_rabbit_port())

    @property
    def url(self) -> str:
        """oslo.messaging transport URL (user guest, vhost ``/``)."""
        return 'rabbit://%s:%s@%s:%d/' % (USER, PASSWORD, self.host,
                                          self.port)

    def answers(self) -> bool:
        return amqp_answers(self.port, self.host)

    def queue(self, name: str) -> Optional[Tuple[int, int]]:
        """Messages of queue ``name`` ready to be delivered and delivered
        but not acknowledged, as the broker counts them now (rabbitmqctl,
        about a second); ``None``: no such queue."""
        env = dict(os.environ, HOME=str(self.directory),
                   ERL_EPMD_ADDRESS=self.host)
        done = subprocess.run(
            [str(RABBITMQCTL), '-n', str(self.info['node']), '-q',
             'list_queues', 'name', 'messages_ready',
             'messages_unacknowledged', '--formatter', 'json'],
            env=env, stdin=subprocess.DEVNULL, capture_output=True,
            text=True, timeout=60, check=True)
        for row in json.loads(done.stdout):
            if row['name'] == name:
                return (int(row['messages_ready']),
                        int(row['messages_unacknowledged']))
        return None


def nova_conf(directory: pathlib.Path, exchange: str = EXCHANGE) -> Any:
    """A configuration with Nova's bus settings (control exchange ``nova``,
    durable queues), read from ``directory``/nova.conf when oslo.messaging
    registers its options, as Nova's own is (``exchange``: another
    service's, e.g. ``neutron``)."""
    from oslo_config import cfg
    path = directory / ('%s.conf' % exchange)
    path.write_text('[DEFAULT]\ncontrol_exchange = %s\n\n'
                    '[oslo_messaging_rabbit]\namqp_durable_queues = true\n'
                    % exchange)
    conf = cfg.ConfigOpts()
    conf(args=[], default_config_files=[str(path)])
    return conf


class Publisher:
    """Nova's side of the bus: an oslo.messaging notifier (driver
    messagingv2) on the ``nova`` exchange, durable like the listener's
    queues. ``directory`` gets its nova.conf. ``exchange`` and ``topic``:
    another service's side (Neutron: ``neutron``, ``notifications``)."""

    def __init__(self, url: str, directory: pathlib.Path,
                 exchange: str = EXCHANGE, topic: str = TOPIC) -> None:
        import oslo_messaging
        self.conf = nova_conf(directory, exchange)
        self.topic = topic
        self.transport = oslo_messaging.get_notification_transport(
            self.conf, url=url)
        self._notifiers: Dict[str, Any] = {}

    def send(self, message: Dict[str, Any],
             context: Optional[Dict[str, Any]] = None) -> None:
        """Publish ``message`` (a sample's event type, payload, publisher
        and priority) as Nova does."""
        import oslo_messaging
        publisher = message['publisher_id']
        notifier = self._notifiers.get(publisher)
        if notifier is None:
            notifier = self._notifiers[publisher] = oslo_messaging.Notifier(
                self.transport, publisher_id=publisher,
                driver='messagingv2', topics=[self.topic], retry=-1)
        priority = str(message.get('priority') or 'info').lower()
        send = getattr(notifier, priority)
        send(context or {'request_id': 'req-test'}, message['event_type'],
             message['payload'])

    def close(self) -> None:
        self.transport.cleanup()


@pytest.fixture(scope='session')
def rabbit() -> Iterator[RabbitServer]:
    """RabbitMQ on a free port in a private directory, for the session."""
    server = RabbitServer.temporary()
    try:
        server.start()
        yield server
    finally:
        if os.environ.get('NOVAHOOKS_KEEP_RABBIT'):
            server.stop()
        else:
            server.remove()
