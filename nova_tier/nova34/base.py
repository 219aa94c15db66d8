"""A Nova 34 functional test case whose notifications reach a real
``novahooks listen`` over a real RabbitMQ.

Nova 34 has no hooks: the plugins run from its versioned notifications.
Nova's own harness (API, conductor, scheduler and compute in one process,
fake virt driver, SQLite, Neutron, Placement and Cinder fixtures) forces
``fake:/`` transports and a fake notifier its waits depend on
(``self.notifier.wait_for_versioned_notifications``). Each versioned
notification the fake gets is also sent, unchanged and in order, by a
real ``oslo_messaging.Notifier`` (driver ``messagingv2``, the serializer
Nova's own ``NOTIFIER`` has) to the tier's RabbitMQ, exchange ``nova``,
topic ``versioned_notifications``, durable queues, as a real Nova would
send it. The installed ``novahooks listen`` console script consumes them
in its own process, in its own pool, started (and consuming) before Nova
publishes anything.

Every notification sent is kept (event type, priority, publisher,
payload, message id and timestamp, as they went on the bus) in
``<state>/notifications.jsonl``, to replay in later tests
(:meth:`Nova34TestCase.save_notifications`); with
``$NOVAHOOKS_NOVA34_NOTIFICATIONS`` set to a directory, each test's are
also saved there as ``<test id>.jsonl``.

The servers (tools/run-nova34-tests.sh starts them) are named by
``$NOVAHOOKS_TEST_BIND`` and ``$NOVAHOOKS_TEST_RABBIT``: the directories of
tools/bind-server.sh and tools/rabbitmq-server.sh, each with its
server.json.
"""

import ast
import base64
import contextlib
import copy
import json
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from typing import (
    Any,
    Callable,
    Dict,
    List,
    Optional,
    Sequence,
    Set,
    Tuple,
)
import uuid

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.update
import fixtures
from nova import rpc
from nova import utils as nova_utils
from nova.tests import fixtures as nova_fixtures
from nova.tests.fixtures import notifications as nova_notifications
from nova.tests.functional import integrated_helpers
from oslo_config import cfg
import oslo_messaging

#: Where Nova publishes its versioned notifications (its defaults).
EXCHANGE = 'nova'
TOPIC = 'versioned_notifications'
FORWARD_ZONE = 'cloud.internal.'
#: Saved notifications go there too (one file per test) when set.
SAVE_ENV = 'NOVAHOOKS_NOVA34_NOTIFICATIONS'
#: Seconds a listener may take to start consuming (it runs Alembic
#: migrations on first use of each plugin's database).
LISTEN_START_SECONDS = 60.0


def server_info(variable: str) -> Dict[str, Any]:
    """server.json of the test server whose directory ``$variable`` names."""
    directory = os.environ.get(variable)
    if not directory:
        raise RuntimeError('$%s is not set: run tools/run-nova34-tests.sh'
                           % variable)
    with open(os.path.join(directory, 'server.json')) as stream:
        info = json.load(stream)
    info['directory'] = directory
    return info


def wait_until(check: Callable[[], Any], timeout: float = 30.0,
               what: str = 'condition') -> Any:
    """``check()`` once it is true; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError('timed out after %.0f s waiting for %s '
                                 '(last: %r)' % (timeout, what, value))
        time.sleep(0.1)


def _readdressed(port: Dict[str, Any], address: str) -> Dict[str, Any]:
    found = copy.deepcopy(port)
    found['fixed_ips'] = [dict(found['fixed_ips'][0], ip_address=address)]
    return found


class Nova34NeutronFixture(nova_fixtures.NeutronFixture):
    """Nova's Neutron fixture on 10.0.0.0/24 and fd00:10::/64, the networks
    whose reverse zones the tier's BIND serves (its own 192.168.1.0/24 and
    fd37:44e8:ad06::/64 have none), so PTR records can be checked.
    Ports keep their ids and MACs: port_2 (10.0.0.30) is the one an
    ``networks='auto'`` boot gets, port_1 (10.0.0.3) a free port to attach.
    """

    subnet_1 = dict(
        nova_fixtures.NeutronFixture.subnet_1, gateway_ip='10.0.0.1',
        cidr='10.0.0.0/24',
        allocation_pools=[{'start': '10.0.0.2', 'end': '10.0.0.254'}])
    subnet_ipv6_1 = dict(
        nova_fixtures.NeutronFixture.subnet_ipv6_1, gateway_ip='fd00:10::1',
        cidr='fd00:10::/64', allocation_pools=[
            {'start': 'fd00:10::2', 'end': 'fd00:10::ffff:ffff:ffff:ffff'}])
    port_1 = _readdressed(nova_fixtures.NeutronFixture.port_1, '10.0.0.3')
    port_2 = _readdressed(nova_fixtures.NeutronFixture.port_2, '10.0.0.30')
    default_port = copy.deepcopy(port_2)
    port_with_resource_request = _readdressed(
        nova_fixtures.NeutronFixture.port_with_resource_request, '10.0.0.42')


class _ErrorLog(logging.Handler):
    """ERROR records of oslo.messaging's notifier (it logs, and swallows,
    a notification it could not send)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage()[:500])


#: Context keys whose values are not kept (the notifier redacts them).
_SECRET_WORDS = ('token', 'password', 'secret', 'service_catalog')


class NotificationTee:
    """Nova's side of the bus: a real ``oslo_messaging.Notifier`` on
    ``url`` that sends each notification as Nova 34 does, and keeps what it
    sent (as JSON lines in ``path``)."""

    def __init__(self, url: str, path: str, directory: str) -> None:
        # Nova's bus settings, read from a nova.conf as Nova reads its own.
        conf_file = os.path.join(directory, 'nova-notifier.conf')
        with open(conf_file, 'w') as stream:
            stream.write('[DEFAULT]\ncontrol_exchange = %s\n\n'
                         '[oslo_messaging_rabbit]\n'
                         'amqp_durable_queues = true\n' % EXCHANGE)
        self.conf = cfg.ConfigOpts()
        self.conf(args=[], default_config_files=[conf_file])
        self.transport = oslo_messaging.get_notification_transport(
            self.conf, url=url)
        # What nova.rpc.init gives its NOTIFIER (Nova 34 sends versioned
        # notifications with RequestContextSerializer, not the Profiler
        # one its RPC clients use).
        self.notifier = oslo_messaging.Notifier(
            self.transport, driver='messagingv2', topics=[TOPIC],
            serializer=rpc.RequestContextSerializer(
                rpc.JsonPayloadSerializer()),
            retry=10)
        self.path = path
        self.sent: List[Dict[str, Any]] = []
        self._lock = threading.Lock()
        # The message as the driver puts it on the bus (message_id and
        # timestamp are made by Notifier._notify, just before).
        (extension,) = self.notifier._driver_mgr.extensions
        driver = extension.obj
        send = self._send = driver.notify

        def notify(ctxt: Any, message: Dict[str, Any], priority: str,
                   retry: Any) -> None:
            self._keep(ctxt, message)
            send(ctxt, message, priority, retry)
        driver.notify = notify
        self.errors = _ErrorLog()
        logging.getLogger('oslo_messaging.notify').addHandler(self.errors)

    def _keep(self, ctxt: Any, message: Dict[str, Any]) -> None:
        record = {key: message.get(key) for key in (
            'event_type', 'priority', 'publisher_id', 'timestamp',
            'message_id', 'payload')}
        # The context as it went on the bus (the notifier sends a redacted
        # copy: no token); what a secret-looking key holds is not kept.
        record['context'] = {
            key: (None if any(word in key.lower() for word in _SECRET_WORDS)
                  else value)
            for key, value in (ctxt if isinstance(ctxt, dict) else {}).items()}
        with self._lock:
            self.sent.append(record)
            with open(self.path, 'a') as stream:
                stream.write(json.dumps(record, sort_keys=True, default=str)
                             + '\n')

    def publish(self, record: Dict[str, Any]) -> None:
        """Send a kept notification again, exactly as it went on the bus
        (its message id, timestamp, priority, publisher, payload and
        context), through the same driver; not kept again."""
        message = {key: record[key] for key in (
            'message_id', 'publisher_id', 'event_type', 'priority',
            'payload', 'timestamp')}
        self._send(dict(record.get('context') or {}), message,
                   str(record['priority']), self.notifier.retry)

    def send(self, publisher_id: str, priority: str, ctxt: Any,
             event_type: str, payload: Any) -> None:
        """What Nova's ``NOTIFIER.prepare(publisher_id).<priority>(...)``
        does."""
        notifier = self.notifier.prepare(publisher_id=publisher_id)
        getattr(notifier, priority.lower())(ctxt, event_type, payload)

    def close(self) -> None:
        logging.getLogger('oslo_messaging.notify').removeHandler(self.errors)
        self.transport.cleanup()


def queue_consumers(url: str, queue: str) -> int:
    """How many consumers the broker counts on ``queue`` (0: no queue)."""
    return _queue(url, queue)[1]


def queue_messages(url: str, queue: str) -> int:
    """Messages ready (not delivered) in ``queue`` (0: no queue)."""
    return _queue(url, queue)[0]


def _queue(url: str, queue: str) -> Tuple[int, int]:
    import kombu
    with kombu.Connection(url.replace('rabbit://', 'amqp://', 1),
                          connect_timeout=5) as conn:
        try:
            _, messages, count = conn.default_channel.queue_declare(
                queue=queue, passive=True)
        except Exception:
            return 0, 0
    return int(messages), int(count)


def delete_queue(url: str, queue: str) -> None:
    """Delete ``queue`` (a pool's, once its listeners are gone), if any."""
    import kombu
    with kombu.Connection(url.replace('rabbit://', 'amqp://', 1),
                          connect_timeout=5) as conn:
        with contextlib.suppress(Exception):
            conn.default_channel.queue_delete(queue=queue)


#: rabbitmqctl of Debian's RabbitMQ (tools/rabbitmq-server.sh).
RABBITMQCTL = '/usr/lib/rabbitmq/bin/rabbitmqctl'


def queue_unsettled(rabbit: Dict[str, Any], queue: str) -> Tuple[int, int]:
    """Messages of ``queue`` ready and delivered but not acknowledged, as
    the broker counts them (rabbitmqctl, with the node's cookie: AMQP
    tells only the ready ones)."""
    done = subprocess.run(
        [RABBITMQCTL, '-q', '-n', rabbit['node'], 'list_queues', 'name',
         'messages_ready', 'messages_unacknowledged'],
        env=dict(os.environ, HOME=rabbit['directory']),
        stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
        check=True)
    for line in done.stdout.decode().splitlines():
        fields = line.split('\t')
        if len(fields) == 3 and fields[0] == queue:
            return int(fields[1]), int(fields[2])
    return 0, 0


def wait_settled(rabbit: Dict[str, Any], queue: str,
                 timeout: float = 60.0) -> None:
    """Until every message in ``queue`` was delivered and acknowledged (a
    listener acknowledges once its handlers returned)."""
    def settled() -> bool:
        return (queue_messages(rabbit['url'], queue) == 0
                and queue_unsettled(rabbit, queue) == (0, 0))
    wait_until(settled, timeout, 'queue %s settled' % queue)


class ListenerProcess:
    """The installed ``novahooks listen`` in its own process."""

    def __init__(self, config_file: str, log_file: str) -> None:
        self.config_file = config_file
        self.log_file = log_file
        self.process: Optional[subprocess.Popen[bytes]] = None
        self.terminated = False

    @staticmethod
    def command() -> str:
        """The console script installed beside this interpreter."""
        return os.path.join(os.path.dirname(sys.executable), 'novahooks')

    def start(self) -> None:
        self.terminated = False
        with open(self.log_file, 'ab') as log:
            # -v: INFO, for the statistics it logs when it stops.
            self.process = subprocess.Popen(
                [self.command(), '-v', '--config-file', self.config_file,
                 'listen'],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        with open(self.log_file, errors='replace') as stream:
            return stream.read()

    def wait_consuming(self, url: str, queue: str,
                       timeout: float = LISTEN_START_SECONDS,
                       consumers: int = 1) -> None:
        """Until the broker counts ``consumers`` on the listener's queue
        (a listener has one, its queue bound to both priorities first)."""
        deadline = time.monotonic() + timeout
        while queue_consumers(url, queue) < consumers:
            if not self.running():
                raise AssertionError('novahooks listen exited (%s):\n%s' % (
                    self.process and self.process.returncode,
                    self.log()[-5000:]))
            if time.monotonic() > deadline:
                raise AssertionError('novahooks listen not consuming on %s '
                                     'after %.0f s:\n%s' % (
                                         queue, timeout, self.log()[-5000:]))
            time.sleep(0.1)

    def terminate(self) -> None:
        """SIGTERM, once (a second one may come while the interpreter
        exits, its handlers gone, and kill it)."""
        assert self.process is not None
        if self.process.poll() is None and not self.terminated:
            self.process.send_signal(signal.SIGTERM)
            self.terminated = True

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (unless sent already); its exit status."""
        assert self.process is not None
        self.terminate()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError('novahooks listen ignored SIGTERM for %.0f '
                                 's:\n%s' % (timeout, self.log()[-5000:])
                                 ) from None

    def kill(self) -> None:
        if self.running():
            assert self.process is not None
            self.process.kill()
            self.process.wait()

    def stats(self) -> Dict[str, int]:
        """The counts it logged when it stopped. (Its log masks configured
        secrets wherever they appear: the tier's PostgreSQL password is
        "novahooks", so the line may begin "*** listen".)"""
        marker = ' listen: stopped; '
        for line in reversed(self.log().splitlines()):
            if marker in line:
                return dict(ast.literal_eval(line.split(marker, 1)[1]))
        raise AssertionError('no statistics in the log:\n%s'
                             % self.log()[-5000:])


def _copy(source: str, target: str) -> None:
    if os.path.exists(source):
        shutil.copyfile(source, target)
    else:
        open(target, 'w').close()


LISTEN_CONF = '''[DEFAULT]
enabled_plugins = %(plugins)s
state_dir = %(state)s

[dns]
backend = rfc2136
zone = %(zone)s
reverse_zones = %(reverse)s
database_url = %(database_url)s

[dns_rfc2136]
server = %(dns_host)s
port = %(dns_port)d
key_name = %(key_name)s
key_secret = %(key_secret)s
key_algorithm = %(algorithm)s
timeout = 2.0

[storage]
database_url = %(database_url)s

[netinfo]
database_url = %(database_url)s

[listen]
transport_url = %(url)s
pool = %(pool)s
retry_delay = 0.1
database_url = %(database_url)s
batch_size = %(batch_size)d
batch_timeout = 0.2

[oslo_messaging_rabbit]
amqp_durable_queues = true
rabbit_retry_interval = 1
rabbit_retry_backoff = 1
'''

#: The SQLite file of each plugin's state (and the order guard's) in a
#: state directory, when no database_url is set.
DATABASES = ('dns.sqlite', 'storage.sqlite', 'netinfo.sqlite',
             'listen.sqlite')


def reset_postgres(url: str) -> None:
    """An empty PostgreSQL database at ``url`` (tests/pg.py's reset): the
    other connections to it ended, its public schema dropped and made
    again."""
    import sqlalchemy as sa
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(
                'SELECT pg_terminate_backend(pid) FROM pg_stat_activity '
                'WHERE datname = current_database() '
                'AND pid <> pg_backend_pid() AND usename = current_user'))
            conn.execute(sa.text("SET LOCAL lock_timeout = '10s'"))
            conn.execute(sa.text('DROP SCHEMA public CASCADE'))
            conn.execute(sa.text('CREATE SCHEMA public'))
    finally:
        engine.dispose()


def postgres_rows(url: str, query: str) -> List[Tuple[Any, ...]]:
    """``query`` on the PostgreSQL database at ``url`` ([] while its
    tables are not made)."""
    import sqlalchemy as sa
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(query))]
    except sa.exc.ProgrammingError:  # tables not made yet
        return []
    finally:
        engine.dispose()


class ListenState:
    """The state of one ``novahooks listen`` and its process: a directory
    (``state_dir``, its configuration, its log), DNS on the tier's BIND,
    storage, netinfo and the order guard on SQLite in the directory, or
    all on ``database_url``; consuming in ``pool``."""

    def __init__(self, directory: str, bind: Dict[str, Any],
                 rabbit: Dict[str, Any], pool: str, plugins: str,
                 database_url: Optional[str] = None,
                 batch_size: int = 1) -> None:
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self.pool = pool
        self.rabbit = rabbit
        self.database_url = database_url
        self.config_file = os.path.join(directory, 'novahooks.conf')
        reverse = [z for z in bind['zones'] if z.endswith('.arpa.')]
        self.values = {
            'plugins': plugins, 'state': directory,
            'zone': FORWARD_ZONE, 'reverse': ','.join(reverse),
            'dns_host': bind['host'], 'dns_port': bind['port'],
            'key_name': bind['key_name'], 'key_secret': bind['key_secret'],
            'algorithm': bind['algorithm'], 'url': rabbit['url'],
            'pool': pool, 'database_url': database_url or '',
            'batch_size': batch_size}
        self.write_config()
        self.listener = ListenerProcess(
            self.config_file, os.path.join(directory, 'listen.log'))

    def write_config(self, **overrides: Any) -> None:
        values = dict(self.values, **overrides)
        with open(self.config_file, 'w') as stream:
            stream.write(LISTEN_CONF % values)

    def novahooks(self, *args: str) -> Tuple[int, str]:
        """The installed CLI on this configuration: exit code and standard
        output."""
        return novahooks_all([(self, args)])[0]

    def failed(self) -> List[Dict[str, Any]]:
        """``novahooks listen failed -f json``."""
        return failed(self.novahooks('listen', 'failed', '-f', 'json'))

    def rows(self, database: str, query: str) -> List[Tuple[Any, ...]]:
        """``query`` on a plugin's database (``database``: its SQLite
        file's name in the directory; with a database_url, that one)."""
        if self.database_url:
            return postgres_rows(self.database_url, query)
        path = os.path.join(self.directory, database)
        if not os.path.exists(path):
            return []
        with contextlib.closing(sqlite3.connect(path)) as conn:
            try:
                return list(conn.execute(query))
            except sqlite3.OperationalError:  # tables not made yet
                return []


def novahooks_all(calls: Sequence[Tuple[ListenState, Sequence[str]]]
                  ) -> List[Tuple[int, str]]:
    """The installed CLI, each call on its state's configuration, all at
    once (each starts an interpreter): exit codes and standard outputs."""
    running = [subprocess.Popen(
        [ListenerProcess.command(), '--config-file', state.config_file]
        + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE) for state, args in calls]
    results = []
    for process in running:
        out, _ = process.communicate(timeout=120)
        results.append((process.returncode, out.decode('utf-8', 'replace')))
    return results


def failed(result: Tuple[int, str]) -> List[Dict[str, Any]]:
    """What ``novahooks listen failed -f json`` listed."""
    code, out = result
    if code != 0:
        raise AssertionError('novahooks listen failed: exit %d:\n%s'
                             % (code, out))
    return list(json.loads(out))


def start_listening(states: List[ListenState],
                    timeout: float = LISTEN_START_SECONDS) -> None:
    """Start the listeners of ``states`` (all in one pool) at once; return
    when the broker counts each one's consumer on the pool's queue."""
    for state in states:
        state.listener.start()
    pool, url = states[0].pool, states[0].rabbit['url']
    assert all(state.pool == pool for state in states)
    deadline = time.monotonic() + timeout
    for state in states:
        state.listener.wait_consuming(
            url, pool, max(1.0, deadline - time.monotonic()), len(states))


class Nova34TestCase(integrated_helpers._IntegratedTestBase):
    """Nova 34's functional harness, its versioned notifications on a real
    RabbitMQ, and ``novahooks listen`` consuming them (DNS on the tier's
    BIND, storage and netinfo on SQLite in ``self.state``)."""

    microversion = '2.37'   # networks='auto'
    plugins = 'audit,dns,storage,netinfo'

    def setUp(self) -> None:
        self.state = self.useFixture(fixtures.TempDir()).path
        self.bind = server_info('NOVAHOOKS_TEST_BIND')
        self.rabbit = server_info('NOVAHOOKS_TEST_RABBIT')
        self.clear_zones()  # one BIND for the whole run
        self.pool = 'novahooks-nova34-%s' % uuid.uuid4().hex[:8]
        # The listener first: its pool's queue must exist (and be bound)
        # before Nova publishes, or the broker drops what Nova sends.
        self.live = self.listen_state('', pool=self.pool)
        self.config_file = self.live.config_file
        self.listener = self.live.listener
        start_listening([self.live])
        self.notifications_file = os.path.join(self.state,
                                               'notifications.jsonl')
        self.tee = NotificationTee(self.rabbit['url'],
                                   self.notifications_file, self.state)
        self.addCleanup(self.tee.close)
        # (Nova's TestCase deletes the public attributes of the test before
        # the cleanups added here run.)
        self.addCleanup(self._save_for_later, self.id(),
                        self.notifications_file)
        self._tee_versioned_notifications()
        self.useFixture(fixtures.MonkeyPatch(
            'nova.tests.fixtures.NeutronFixture', Nova34NeutronFixture))
        # Nova's thread pools say at INFO that they shut down, in cleanups
        # that run after its log capture has ended: to the console.
        pools = logging.getLogger('nova.thread_pool_factory')
        self.addCleanup(pools.setLevel, pools.level)
        pools.setLevel(logging.WARNING)
        super().setUp()
        self.flags(notification_format='versioned',
                   notify_on_state_change='vm_and_task_state',
                   bdms_in_notifications=True, group='notifications')

    # -- the tee ------------------------------------------------------------

    def _tee_versioned_notifications(self) -> None:
        """Every versioned notification Nova's fake notifier takes is also
        sent for real (the fake's notifiers are made by ``prepare`` at each
        emit, so patching the class reaches them all)."""
        fake = nova_notifications.FakeVersionedNotifier
        original = fake._notify
        tee = self.tee

        def _notify(notifier: Any, priority: str, ctxt: Any,
                    event_type: str, payload: Any) -> None:
            # On the bus before the fake has it, so that whatever waits for
            # it (wait_for_versioned_notifications) finds it published;
            # but not what the fake refuses: a notification of a greenlet
            # leaked by an earlier test case (the fake raises to end it).
            if nova_utils.concurrency_mode_threading() or (
                    notifier._get_sender_test_case_id()
                    == notifier.test_case_id):
                tee.send(notifier.publisher_id, priority, ctxt, event_type,
                         payload)
            original(notifier, priority, ctxt, event_type, payload)
        self.useFixture(fixtures.MonkeyPatch(
            'nova.tests.fixtures.notifications.FakeVersionedNotifier._notify',
            _notify))

    def sent(self) -> List[Dict[str, Any]]:
        """The notifications sent on the bus so far, in order."""
        return list(self.tee.sent)

    def save_notifications(self, path: str) -> None:
        """Save what was sent (JSON lines: event_type, priority,
        publisher_id, timestamp, message_id, payload) to ``path``."""
        _copy(self.notifications_file, path)

    @staticmethod
    def _save_for_later(test_id: str, source: str) -> None:
        directory = os.environ.get(SAVE_ENV)
        if directory:
            os.makedirs(directory, exist_ok=True)
            _copy(source, os.path.join(directory, test_id + '.jsonl'))

    # -- the listener -------------------------------------------------------

    def listen_state(self, name: str, pool: Optional[str] = None,
                     database_url: Optional[str] = None,
                     batch_size: int = 1) -> ListenState:
        """A fresh state for a ``novahooks listen`` (not started) in
        ``<self.state>/<name>``, in ``pool`` (a new one by default;
        ``batch_size`` > 1: in batches); its process killed, and its pool's
        queue deleted, at the end."""
        state = ListenState(
            os.path.join(self.state, name) if name else self.state,
            self.bind, self.rabbit,
            pool or 'novahooks-nova34-%s' % uuid.uuid4().hex[:8],
            self.plugins, database_url, batch_size)
        self.addCleanup(delete_queue, self.rabbit['url'], state.pool)
        self.addCleanup(state.listener.kill)
        return state

    def write_listen_config(self, **overrides: Any) -> None:
        self.live.write_config(**overrides)

    def novahooks(self, *args: str) -> Tuple[int, str]:
        """The installed CLI on the listener's configuration: exit code and
        standard output."""
        return self.live.novahooks(*args)

    def wait_for_listener(self, check: Callable[[], Any],
                          timeout: float = 30.0,
                          what: str = 'the listener',
                          listeners: Optional[List[ListenerProcess]] = None
                          ) -> Any:
        """``check()`` once true (the listeners, by default the test's own,
        still running)."""
        watched = listeners or [self.listener]

        def alive_and_done() -> Any:
            for listener in watched:
                if not listener.running():
                    raise AssertionError('novahooks listen exited:\n%s'
                                         % listener.log()[-5000:])
            return check()
        try:
            return wait_until(alive_and_done, timeout, what)
        except AssertionError as exc:
            raise AssertionError('%s%s' % (exc, ''.join(
                '\n--- %s\n%s' % (listener.log_file, listener.log()[-5000:])
                for listener in watched))) from None

    def eventually(self, expected: Any, actual: Callable[[], Any],
                   what: str, timeout: float = 30.0,
                   listeners: Optional[List[ListenerProcess]] = None
                   ) -> None:
        """Wait until ``actual()`` equals ``expected`` (the listeners
        still running); fail with the last value and the listeners'
        logs."""
        last: List[Any] = []

        def check() -> bool:
            last[:] = [actual()]
            return bool(last[0] == expected)
        try:
            self.wait_for_listener(check, timeout, what, listeners)
        except AssertionError as exc:
            raise AssertionError('%s: expected %r, last %r\n%s' % (
                what, expected, last[0] if last else None, exc)) from None

    def queue_drained(self) -> bool:
        """Nothing waits in the listener's queue."""
        return queue_messages(self.rabbit['url'], self.pool) == 0

    def wait_settled(self, pool: Optional[str] = None,
                     timeout: float = 60.0) -> None:
        """Until the pool's queue (the test's own by default) holds no
        message, delivered or not, unacknowledged."""
        wait_settled(self.rabbit, pool or self.pool, timeout)

    # -- state --------------------------------------------------------------

    def rows(self, database: str, query: str) -> List[Tuple[Any, ...]]:
        """``query`` on a plugin's SQLite database in ``self.state``."""
        return self.live.rows(database, query)

    def postgres(self) -> str:
        """The tier's PostgreSQL (``$NOVAHOOKS_TEST_PG``), emptied: its
        SQLAlchemy URL."""
        url = str(server_info('NOVAHOOKS_TEST_PG')['url'])
        reset_postgres(url)
        return url

    # -- DNS on the tier's BIND ---------------------------------------------

    def _tsig(self) -> Dict[str, Any]:
        return {'keyring': {dns.name.from_text(self.bind['key_name']):
                            base64.b64decode(self.bind['key_secret'])},
                'keyname': dns.name.from_text(self.bind['key_name']),
                'keyalgorithm': dns.tsig.HMAC_SHA256}

    def dns_query(self, name: str, rtype: str) -> Set[str]:
        """What BIND answers for ``name`` ``rtype`` (TCP)."""
        qname = dns.name.from_text(name)
        response = dns.query.tcp(dns.message.make_query(qname, rtype),
                                 self.bind['host'], timeout=5,
                                 port=self.bind['port'])
        return {rdata.to_text().lower() for rrset in response.answer
                if rrset.name == qname for rdata in rrset}

    def _zones(self) -> List[str]:
        return [zone for zone in self.bind['zones']
                if zone != self.bind.get('refused_zone')]

    def _zone_records(self, zone: str) -> Set[Tuple[str, str, str]]:
        found = set()
        for message in dns.query.xfr(
                self.bind['host'], zone, port=self.bind['port'],
                relativize=False, timeout=5, lifetime=10, **self._tsig()):
            for rrset in message.answer:
                rtype = dns.rdatatype.to_text(rrset.rdtype)
                if rtype in ('A', 'AAAA', 'PTR'):
                    found.update((rrset.name.to_text(), rtype,
                                  rdata.to_text()) for rdata in rrset)
        return found

    def zone_records(self) -> Set[Tuple[str, str, str]]:
        """(name, type, value) of every A, AAAA and PTR in the tier's zones
        (AXFR)."""
        found: Set[Tuple[str, str, str]] = set()
        for zone in self._zones():
            found |= self._zone_records(zone)
        return found

    def clear_zones(self) -> None:
        """Delete every A, AAAA and PTR record (RFC 2136, the key)."""
        for zone in self._zones():
            owners = sorted({(name, rtype) for name, rtype, _
                             in self._zone_records(zone)})
            if not owners:
                continue
            update = dns.update.Update(zone, **self._tsig())
            for name, rtype in owners:
                update.delete(name, rtype)
            response = dns.query.tcp(update, self.bind['host'], timeout=5,
                                     port=self.bind['port'])
            assert response.rcode() == dns.rcode.NOERROR, response
