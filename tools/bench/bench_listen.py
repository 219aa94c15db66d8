"""Notification throughput of ``novahooks listen`` against a bare listener.

Starts a private RabbitMQ (tools/rabbitmq-server.sh), BIND
(tools/bind-server.sh, unless ``--dns hosts``) and, for the listener
processes on PostgreSQL, a PostgreSQL (tools/pg-server.sh), each on a
free loopback port in a temporary directory. Every run has its own
durable pool queue; all queues are declared first, then the
notifications are published once (the ``nova`` topic exchange gives each
queue a copy), so each run starts with all of them waiting. The clock
runs from a listener's start until it has handled all of them.

Notifications (``--mix``), built from Nova 34's own samples with the
soak test's helpers (``tests.listen.test_order``: ``Story``, ``port``):

- ``mix`` (default): ``--instances`` instances (2000), 10 notifications
  each: ``instance.update`` (building), ``instance.create.end`` (2 fixed
  IPs, 1 volume), 2 ``instance.update``, ``instance.interface_attach.end``
  (a third port), ``instance.update``, ``instance.interface_detach.end``,
  ``instance.update``, ``instance.shutdown.end``, ``instance.delete.end``.
  Instances overlap in time as on a real bus (``--window`` of them, 50,
  under way at once, the next notification drawn at random among them);
  each instance's own notifications stay in order.
- ``create``: the old scenario: one ``instance.create.end`` (one fixed
  IP, one volume) for each of ``--count`` distinct instances.

In this process (one ``Listener``, one worker, state in SQLite):

- bare: an oslo.messaging notification listener (threading executor, one
  worker) whose endpoint returns HANDLED at once: the baseline.
- the bridge alone: the listener with only ``audit``: what mapping,
  dispatch, the order guard and acknowledging cost.
- all plugins on the default settings (batches of ``[listen]
  batch_size``, 100, decided at once; DNS sent once a batch commits,
  within ``[dns] batch_send_budget_ms``): ``audit``, ``dns``
  (``rfc2136`` to the private BIND; with ``--dns hosts`` the embedded
  hosts-file backend),
  ``storage``, ``netinfo``; then the same one message at a time
  (``batch_size = 1``, DNS sent within ``send_budget_ms``), and with
  ``batch_size`` ``--batch-size`` (500).
  Each prints where its time goes: mapping, each plugin's handlers, the
  order guard and the rest of handling, and transport/oslo.messaging;
  the process's peak RSS during the run (``/proc/self/status`` VmHWM,
  reset before it; the notifications the benchmark holds included); and
  the SQL statements run per notification (SQLAlchemy's cursor events,
  every thread's: an executemany counts once) and the CPU time handling
  took per notification (``time.thread_time`` of the handling thread:
  steadier than rates when other work shares the machine).
- ``--profile FILE``: the all-plugins run once more under cProfile (every
  thread it starts); stats dumped to FILE, top 25 by cumulative and own
  time printed.

``novahooks listen`` processes (``python -m novahooks_core.cli.app listen``
as the soak starts them; databases made by ``db sync --listen`` first),
one pool: 1 on SQLite (the default state dir), 1 on PostgreSQL and
``--listeners N`` on PostgreSQL (``--scale``: 1, 2 and 4; ``--listeners
0``: none), the order guard and the dns, storage and netinfo plugins all
on the shared ``database_url``. Done when the queue is empty and the
order guard holds every instance's last notification (mix: every
instance's tombstone); then the listeners' status files must count every
notification handled. The rate is over the time from the first listener
consuming (start-up shown apart); each process's peak RSS (VmHWM) is
read before it is stopped. The processes' ``[dns] send_budget_ms``
(``--process-dns-budget-ms``, 200), ``[listen] batch_size``
(``--process-batch-size``, 100, the default) and ``batch_timeout``
(``--process-batch-timeout``, 0.1 s, the default) are shown in their
header line.

Prints notifications per second and ratios against the bare listener (and
1 listener on PostgreSQL) measured in the same run. Asserts nothing.

Usage: bench_listen.py [--quick] [--mix mix|create] [--instances N]
[--count N] [--dns rfc2136|hosts] [--listeners N] [--scale]
[--process-batch-size N] [--process-batch-timeout S]
[--process-dns-budget-ms MS] [--profile FILE] [--batch-size N]
[--workers N] [--json]
"""

import argparse
import cProfile
import importlib
import json
import os
import pathlib
import pstats
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
import targets  # noqa: E402

from novahooks_core import config  # noqa: E402
from novahooks_core.containment import timing  # noqa: E402
from novahooks_core.hooks import dispatch  # noqa: E402
from novahooks_core.notify import lag, mapping  # noqa: E402
from novahooks_core.notify.endpoint import (  # noqa: E402
    NotificationEndpoint,
)
from novahooks_core.notify.options import OPTS  # noqa: E402
from novahooks_core.notify.runtime import Listener  # noqa: E402
from novahooks_core.state import db  # noqa: E402
from novahooks_core.testing import samples  # noqa: E402
from novahooks_dns import service as dns_service  # noqa: E402
from novahooks_netinfo import service as netinfo_service  # noqa: E402
from novahooks_storage import service as storage_service  # noqa: E402
from tests.dns.conftest import BindServer, free_port, write_conf  # noqa: E402
from tests.pg import PostgresServer  # noqa: E402
from tests.rabbit import (  # noqa: E402
    EXCHANGE,
    TOPIC,
    Publisher,
    RabbitServer,
    nova_conf,
)

# The soak's helpers, imported without mypy following into the tests
# (tests/listen/test_order.py has a finding of its own).
_order: Any = importlib.import_module('tests.listen.test_order')
_soak: Any = importlib.import_module('tests.listen.test_soak')
Story = _order.Story
port = _order.port
#: Messages handled, as the listeners' status files say.
status_handled = _soak.handled
#: ``novahooks listen`` in a process of its own, as the soak starts it.
listener_process = _soak.listener

Message = Dict[str, Any]
ALL = 'audit,dns,storage,netinfo'
#: ``[dns] batch_send_budget_ms`` of every run (None: its default).
BATCH_DNS_BUDGET_MS: Optional[float] = None
#: ``[listen] batch_size`` and ``batch_timeout`` by default.
DEFAULT_BATCH = next(o.default for o in OPTS if o.name == 'batch_size')
DEFAULT_TIMEOUT = next(o.default for o in OPTS if o.name == 'batch_timeout')
#: Longest a run may take before the benchmark gives up on it.
STALL_SECONDS = 3600.0


# -- notifications -----------------------------------------------------------

def create_messages(directory: pathlib.Path, count: int) -> List[Message]:
    """The old scenario: one create.end per instance (one fixed IP, one
    volume)."""
    return [samples.notification(
        directory, 'instance-create-end',
        '00000000-0000-0000-0000-%012d' % index, hostname='bench-%d' % index,
        ips=[('port-%08d' % index, 'fa:16:3e:00:00:01', '10.%d.%d.%d' % (
            index // 65536 % 256, index // 256 % 256, index % 256), 4)],
        devices=[{'volume_id': 'vol-%08d' % index}])
        for index in range(count)]


def life(story: Any, n: int) -> Iterator[None]:
    """One instance's 10 notifications, told one at a time (each ``next``
    tells the next one): a boot with 2 fixed IPs and a volume, updates,
    an interface attached and detached, a shutdown and the delete."""
    uuid = '00000000-0000-0000-0001-%012d' % n
    name = 'i%d' % n
    volume = dict(volume_id='vol-%d' % n, boot_index=0,
                  delete_on_termination=False, device_name='/dev/vda')
    one, two, three = port(3 * n), port(3 * n + 1), port(3 * n + 2)
    story.say('instance-update', uuid, name, state='building',
              task_state='spawning')
    yield
    story.say('instance-create-end', uuid, name, [one, two], [volume])
    yield
    story.say('instance-update', uuid, name, [one, two], [volume],
              task_state=None)
    yield
    story.say('instance-update', uuid, name, [one, two], [volume],
              task_state=None, metadata={'role': 'web-%d' % n})
    yield
    story.say('instance-interface_attach-end', uuid, name,
              [one, two, three], [volume])
    yield
    story.say('instance-update', uuid, name, [one, two, three], [volume],
              task_state=None)
    yield
    story.say('instance-interface_detach-end', uuid, name, [one, two],
              [volume])
    yield
    story.say('instance-update', uuid, name, [one, two], [volume],
              task_state=None)
    yield
    story.say('instance-shutdown-end', uuid, name, [], [volume],
              state='active', task_state='deleting')
    yield
    story.say('instance-delete-end', uuid, name, [], [volume],
              state='deleted')


def mix_messages(directory: pathlib.Path, instances: int, window: int,
                 seed: int = 14) -> List[Message]:
    """``instances`` lives interleaved: ``window`` under way at once, the
    next notification drawn at random among them (each instance's in
    order; the story's clock moves on with every notification)."""
    story = Story(directory)
    chosen = random.Random(seed)
    waiting = iter(range(instances))
    active: List[Iterator[None]] = []
    for n in waiting:
        active.append(life(story, n))
        if len(active) >= window:
            break
    while active:
        index = chosen.randrange(len(active))
        try:
            next(active[index])
        except StopIteration:
            following = next(waiting, None)
            if following is None:
                active.pop(index)
            else:
                active[index] = life(story, following)
    return story.messages


def publish(url: str, directory: pathlib.Path,
            batch: List[Message]) -> float:
    publisher = Publisher(url, directory)
    start = time.perf_counter()
    for message in batch:
        publisher.send(message, {})
    elapsed = time.perf_counter() - start
    publisher.close()
    return elapsed


# -- the broker --------------------------------------------------------------

class Bare:
    """oslo.messaging's listener with a no-op endpoint (also what declares
    a pool's durable queue before the notifications are published)."""

    def __init__(self, url: str, directory: pathlib.Path, pool: str) -> None:
        import oslo_messaging
        self.handled = 0
        self.done = threading.Event()
        self.expected = 0
        conf = nova_conf(directory)
        self.transport = oslo_messaging.get_notification_transport(
            conf, url=url)
        owner = self

        class Endpoint:
            def info(self, ctxt: Any, publisher_id: str, event_type: str,
                     payload: Any, metadata: Any) -> Any:
                owner.handled += 1
                if owner.handled >= owner.expected:
                    owner.done.set()
                return oslo_messaging.NotificationResult.HANDLED

        self.server = oslo_messaging.get_notification_listener(
            self.transport,
            [oslo_messaging.Target(topic=TOPIC, exchange=EXCHANGE)],
            [Endpoint()], executor='threading', pool=pool,
            allow_requeue=True)
        conf.set_override('executor_thread_pool_size', 1)

    def stop(self) -> None:
        self.server.stop()
        self.server.wait()
        self.transport.cleanup()


def declare(url: str, directory: pathlib.Path, pool: str) -> None:
    """Make ``pool``'s durable queue (as its listener declares it)."""
    bare = Bare(url, directory, pool)
    bare.server.start()
    bare.stop()


class Queues:
    """Queue depth and consumers, as the broker counts them."""

    def __init__(self, url: str) -> None:
        self.url = url.replace('rabbit://', 'amqp://', 1)
        self._conn: Any = None

    def state(self, queue: str) -> Tuple[int, int]:
        """(messages ready, consumers) of ``queue``; (-1, -1) if unknown."""
        import kombu
        for _ in range(2):
            try:
                if self._conn is None:
                    self._conn = kombu.Connection(self.url)
                _, ready, consumers = self._conn.default_channel.\
                    queue_declare(queue=queue, passive=True)
                return int(ready), int(consumers)
            except Exception:
                self.close()
        return -1, -1

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.release()
            except Exception:
                pass
        self._conn = None


# -- configuration -----------------------------------------------------------

def reset_services() -> None:
    for service in (dns_service, netinfo_service, storage_service):
        service.reset()
    db.reset()
    dispatch.reset()


def write_config(path: pathlib.Path, state: pathlib.Path, url: str,
                 pool: str, plugins: str, bind: Optional[BindServer],
                 database_url: Optional[str] = None, workers: int = 1,
                 dns_budget_ms: float = 200.0,
                 batch_size: int = DEFAULT_BATCH,
                 batch_timeout: float = DEFAULT_TIMEOUT) -> None:
    """The listener's configuration (loaded here too): DNS by rfc2136 on
    ``bind`` (as the DNS tests' ``write_conf``) or on a hosts file in
    ``state``; the order guard, dns, storage and netinfo on
    ``database_url`` (None: SQLite in ``state``)."""
    state.mkdir(parents=True, exist_ok=True)
    batch_budget = ('' if BATCH_DNS_BUDGET_MS is None else
                    'batch_send_budget_ms = %g\n' % BATCH_DNS_BUDGET_MS)
    shared = ('database_url = %s\n' % database_url) if database_url else ''
    if bind is not None:
        write_conf(path, bind, state)
        text = path.read_text().replace(
            'enabled_plugins = dns', 'enabled_plugins = %s' % plugins
        ).replace('send_budget_ms = 10000',
                  'send_budget_ms = %g\n%s%s' % (dns_budget_ms, batch_budget,
                                                 shared))
    else:
        text = (
            '[DEFAULT]\nenabled_plugins = %(plugins)s\n'
            'state_dir = %(dir)s\n\n'
            '[dns]\nzone = cloud.internal.\n'
            'reverse_zones = 10.in-addr.arpa.\n'
            'send_budget_ms = %(budget)g\n%(batch_budget)s%(shared)s\n'
            '[dns_hostsfile]\npath = %(dir)s/hosts\n'
            % {'dir': state, 'plugins': plugins, 'budget': dns_budget_ms,
               'batch_budget': batch_budget,
               'shared': shared})
    text += (
        '\n[listen]\ntransport_url = %(url)s\npool = %(pool)s\n'
        'workers = %(workers)d\nbatch_size = %(batch)d\n'
        'batch_timeout = %(timeout)g\n%(shared)s\n'
        '[oslo_messaging_rabbit]\namqp_durable_queues = true\n'
        % {'url': url, 'pool': pool, 'workers': workers,
           'batch': batch_size, 'timeout': batch_timeout, 'shared': shared})
    if database_url:
        text += '\n[storage]\n%s\n[netinfo]\n%s' % (shared, shared)
    path.write_text(text)
    config.reset()
    config.load(str(path))
    reset_services()


# -- measuring ---------------------------------------------------------------

def proc_status(pid: Any = 'self') -> Dict[str, int]:
    """VmRSS and VmHWM (kB) of a process ({} if unreadable)."""
    found = {}
    try:
        with open('/proc/%s/status' % pid) as stream:
            for line in stream:
                if line.startswith(('VmRSS:', 'VmHWM:')):
                    found[line.split(':')[0]] = int(line.split()[1])
    except OSError:
        pass
    return found


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux >= 4.0)."""
    try:
        with open('/proc/self/clear_refs', 'w') as stream:
            stream.write('5')
        return True
    except OSError:
        return False


class ThreadProfiles:
    """cProfile of every thread started meanwhile (not this one: it only
    starts, polls and stops the listener)."""

    def __init__(self) -> None:
        self.finished: List[cProfile.Profile] = []
        self.running = 0
        self._lock = threading.Lock()
        self._original: Any = None

    def __enter__(self) -> 'ThreadProfiles':
        original = self._original = getattr(threading.Thread,
                                            '_bootstrap_inner')
        owner = self

        def bootstrap_inner(thread: threading.Thread) -> None:
            profile = cProfile.Profile()
            with owner._lock:
                owner.running += 1
            profile.enable()
            try:
                original(thread)
            finally:
                profile.disable()
                with owner._lock:
                    owner.running -= 1
                    owner.finished.append(profile)
        setattr(threading.Thread, '_bootstrap_inner', bootstrap_inner)
        return self

    def __exit__(self, *_: Any) -> None:
        setattr(threading.Thread, '_bootstrap_inner', self._original)

    def stats(self) -> pstats.Stats:
        with self._lock:
            done = list(self.finished)
        found = pstats.Stats(done[0])
        for profile in done[1:]:
            found.add(profile)
        return found


class Attempts:
    """Time spent handling messages in this process
    (``NotificationEndpoint.process``, one at a time, and
    ``process_batch``): mapping, the order guard, the handlers and
    parking, without the transport."""

    METHODS = ('process', 'process_batch')

    def __init__(self) -> None:
        self.seconds = 0.0
        #: CPU time of the handling threads (``time.thread_time``): what
        #: handling costs, whatever else runs on the machine.
        self.cpu_seconds = 0.0
        self._lock = threading.Lock()
        self._originals: Dict[str, Any] = {}

    def __enter__(self) -> 'Attempts':
        for name in self.METHODS:
            original = self._originals[name] = getattr(
                NotificationEndpoint, name)
            setattr(NotificationEndpoint, name, self._timed(original))
        return self

    def _timed(self, original: Any) -> Any:
        owner = self

        def timed(endpoint: NotificationEndpoint, messages: Any) -> Any:
            start, cpu = time.perf_counter(), time.thread_time()
            try:
                return original(endpoint, messages)
            finally:
                spent = time.perf_counter() - start
                used = time.thread_time() - cpu
                with owner._lock:
                    owner.seconds += spent
                    owner.cpu_seconds += used
        return timed

    def __exit__(self, *_: Any) -> None:
        for name, original in self._originals.items():
            setattr(NotificationEndpoint, name, original)


class Statements:
    """SQL statements run in this process (SQLAlchemy's cursor events: an
    executemany is one), every thread's (the DNS sender's included)."""

    def __init__(self) -> None:
        self.count = 0

    def _counted(self, *_: Any) -> None:
        self.count += 1

    def __enter__(self) -> 'Statements':
        sa.event.listen(sa.engine.Engine, 'before_cursor_execute',
                        self._counted)
        return self

    def __exit__(self, *_: Any) -> None:
        sa.event.remove(sa.engine.Engine, 'before_cursor_execute',
                        self._counted)


def sync(conf: pathlib.Path) -> None:
    """The databases made before the listener starts, as a deployment
    does (``novahooks db sync --listen``, as the soak runs it)."""
    subprocess.run([sys.executable, '-m', 'novahooks_core.cli.app',
                    '--config-file', str(conf), 'db', 'sync', '--listen'],
                   check=True, capture_output=True)
    reset_services()


def run_bare(url: str, directory: pathlib.Path, pool: str,
             count: int) -> Dict[str, Any]:
    bare = Bare(url, directory, pool)
    bare.expected = count
    start = time.perf_counter()
    bare.server.start()
    if not bare.done.wait(STALL_SECONDS):
        raise RuntimeError('bare listener stalled at %d' % bare.handled)
    elapsed = time.perf_counter() - start
    bare.stop()
    return {'seconds': elapsed, 'per_second': count / elapsed}


def run_inprocess(url: str, state: pathlib.Path, pool: str,
                  batch: List[Message], plugins: str,
                  bind: Optional[BindServer], workers: int = 1,
                  dns_budget_ms: float = 200.0,
                  batch_size: int = DEFAULT_BATCH,
                  profile: Optional[str] = None) -> Dict[str, Any]:
    """One ``Listener`` in this process on ``pool``'s waiting queue."""
    if bind is not None:
        bind.clear()
    conf = state / 'novahooks.conf'
    write_config(conf, state, url, pool, plugins, bind, None, workers,
                 dns_budget_ms, batch_size)
    sync(conf)
    count = len(batch)
    timing.reset()
    reset_ok = reset_peak_rss()
    rss_before = proc_status().get('VmRSS', 0)
    profiles = ThreadProfiles() if profile else None
    statements = Statements()
    with Attempts() as attempts, statements:
        if profiles is not None:
            profiles.__enter__()
        try:
            listener = Listener()
            start = time.perf_counter()
            listener.start()
            while listener.stats.snapshot().get('handled', 0) < count:
                if time.perf_counter() - start > STALL_SECONDS:
                    raise RuntimeError('novahooks listener stalled: %s'
                                       % listener.stats.snapshot())
                time.sleep(0.01)
            elapsed = time.perf_counter() - start
            listener.stop()
            listener.request_stop()  # its retry and status threads
            reset_services()  # the DNS sender
        finally:
            if profiles is not None:
                profiles.__exit__()
    peak = proc_status().get('VmHWM', 0) if reset_ok else (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    spent: Dict[str, float] = {}
    for name, stats in timing.snapshot().items():
        plugin = name.split(':')[0]
        spent[plugin] = spent.get(plugin, 0.0) + stats.total_seconds
    mapping_start = time.perf_counter()
    for message in batch:
        mapping.events(message['event_type'], message['payload'])
    spent['(mapping to events)'] = time.perf_counter() - mapping_start
    if workers == 1:  # else handler times overlap: no remainder
        handlers = sum(spent.values())
        spent['(order guard, the rest of handling)'] = max(
            0.0, attempts.seconds - handlers)
        spent['(transport, oslo.messaging, acknowledging)'] = (
            elapsed - attempts.seconds)
    result: Dict[str, Any] = {
        'seconds': elapsed, 'per_second': count / elapsed,
        'seconds_by_part': spent, 'counts': listener.stats.snapshot(),
        'rss_start_mib': rss_before / 1024.0,
        'peak_rss_mib': peak / 1024.0, 'peak_rss_since_run': reset_ok,
        'statements_per_message': statements.count / count,
        'handling_cpu_ms': attempts.cpu_seconds / count * 1000}
    if profiles is not None and profile:
        profiles.stats().dump_stats(profile)
        result['profile'] = {'file': profile,
                             'threads': len(profiles.finished),
                             'still_running': profiles.running}
    return result


def scalar(url: str, query: str) -> int:
    """One number from the database at ``url`` (-1 before its tables)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(query)).scalar() or 0)
    except sa.exc.SQLAlchemyError:
        return -1
    finally:
        engine.dispose()


def run_processes(url: str, state: pathlib.Path, pool: str, count: int,
                  instances: int, mix: str, listeners: int,
                  bind: Optional[BindServer],
                  postgres: Optional[PostgresServer],
                  dns_budget_ms: float, batch_size: int = DEFAULT_BATCH,
                  batch_timeout: float = DEFAULT_TIMEOUT) -> Dict[str, Any]:
    """``listeners`` ``novahooks listen`` processes on ``pool``'s waiting
    queue, on PostgreSQL (``postgres``) or SQLite in ``state``; each with
    ``[dns] send_budget_ms = dns_budget_ms`` and ``[listen] batch_size``
    and ``batch_timeout``."""
    if bind is not None:
        bind.clear()
    database_url = None
    if postgres is not None:
        postgres.reset()
        database_url = postgres.url
    conf = state / 'novahooks.conf'
    write_config(conf, state, url, pool, ALL, bind, database_url,
                 dns_budget_ms=dns_budget_ms, batch_size=batch_size,
                 batch_timeout=batch_timeout)
    sync(conf)
    guard_url = database_url or 'sqlite:///%s' % (state / 'listen.sqlite')
    dns_url = database_url or 'sqlite:///%s' % (state / 'dns.sqlite')
    done_query = (
        'select count(*) from listen_instances where deleted_at is not null'
        if mix == 'mix' else 'select count(distinct uuid) from listen_marks')
    queues = Queues(url)
    log = state / 'listeners.log'
    procs: List[subprocess.Popen[bytes]] = []
    first = every = None
    start = time.perf_counter()
    try:
        for _ in range(listeners):
            procs.append(listener_process(conf, log))
        while True:
            now = time.perf_counter() - start
            if now > STALL_SECONDS:
                raise RuntimeError('listeners stalled (see %s)' % log)
            dead = [p.pid for p in procs if p.poll() is not None]
            if dead:
                raise RuntimeError('listener(s) %s exited:\n%s' % (
                    dead, log.read_text(errors='replace')[-3000:]))
            ready, consumers = queues.state(pool)
            if first is None and consumers >= 1:
                first = now
            if every is None and consumers >= listeners:
                every = now
            if ready == 0 and every is not None and scalar(
                    guard_url, done_query) >= instances:
                elapsed = time.perf_counter() - start
                break
            time.sleep(0.1 if every is None else 0.2)
        # The status files (written every few seconds) must say so too.
        deadline = time.monotonic() + 4 * lag.STATUS_SECONDS + 30
        while status_handled(state) < count and time.monotonic() < deadline:
            time.sleep(0.5)
        statuses = lag.read_statuses(str(state))
        outbox = scalar(dns_url, 'select count(*) from dns_outbox')
        peaks = [proc_status(p.pid).get('VmHWM', 0) / 1024.0 for p in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        queues.close()
    counts: Dict[str, int] = {}
    for status in statuses:
        for name, value in (status.get('counts') or {}).items():
            counts[name] = counts.get(name, 0) + int(value)
    failed_path = state / 'listen-failed.jsonl'
    failed = (len(failed_path.read_text().splitlines())
              if failed_path.exists() else 0)
    first = first if first is not None else 0.0
    busy = max(elapsed - first, 1e-9)
    return {
        'listeners': listeners,
        'database': 'postgresql' if postgres is not None else 'sqlite',
        'seconds': elapsed, 'first_consuming_seconds': first,
        'all_consuming_seconds': every, 'per_second': count / busy,
        'per_second_with_start': count / elapsed,
        'counts': counts, 'handled_complete':
            counts.get('handled', 0) >= count,
        'failed': failed, 'dns_outbox_left': outbox,
        'peak_rss_mib': peaks,
        'children_max_rss_mib': resource.getrusage(
            resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0}


# -- the whole run -----------------------------------------------------------

def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or '').split('\n')[0])
    parser.add_argument('--quick', action='store_true',
                        help='small sizes (mix: 50 instances; create: 200)')
    parser.add_argument('--mix', choices=('mix', 'create'), default='mix',
                        help='mix: instance lives (default); create: '
                             'create.end only (the old scenario)')
    parser.add_argument('--instances', type=int, default=0,
                        help='instances of the mix (default 2000)')
    parser.add_argument('--window', type=int, default=50,
                        help='instances of the mix under way at once')
    parser.add_argument('--count', type=int, default=0,
                        help='notifications of --mix create (default 2000)')
    parser.add_argument('--dns', choices=('rfc2136', 'hosts'),
                        default='rfc2136',
                        help='rfc2136 to a private BIND (default), or the '
                             'embedded hosts-file backend')
    parser.add_argument('--listeners', type=int, default=1,
                        help='novahooks listen processes on PostgreSQL '
                             '(besides 1 on SQLite and 1 on PostgreSQL; '
                             '0: no process runs)')
    parser.add_argument('--scale', action='store_true',
                        help='processes on PostgreSQL: 1, 2 and 4')
    parser.add_argument('--process-dns-budget-ms', '--dns-budget-ms',
                        dest='process_dns_budget_ms', type=float,
                        default=200.0,
                        help='[dns] send_budget_ms of the listener '
                             'processes (default 200)')
    parser.add_argument('--process-batch-size', type=int,
                        default=DEFAULT_BATCH,
                        help='[listen] batch_size of the listener processes '
                             '(default 1: one message at a time)')
    parser.add_argument('--process-batch-timeout', type=float,
                        default=DEFAULT_TIMEOUT,
                        help='[listen] batch_timeout of the listener '
                             'processes (default 0.5 s; with '
                             '--process-batch-size > 1)')
    parser.add_argument('--profile', metavar='FILE',
                        help='the in-process all-plugins run again under '
                             'cProfile; stats dumped to FILE')
    parser.add_argument('--batch-dns-budget-ms', type=float, default=None,
                        help='[dns] batch_send_budget_ms of every run '
                             '(default: its default)')
    parser.add_argument('--json', action='store_true')
    parser.add_argument('--workers', type=int, default=1,
                        help='[listen] workers of the in-process listener')
    parser.add_argument('--batch-size', type=int, default=500,
                        help='[listen] batch_size of the batched run')
    opts = parser.parse_args(argv)
    global BATCH_DNS_BUDGET_MS
    BATCH_DNS_BUDGET_MS = opts.batch_dns_budget_ms
    if opts.process_batch_size < 1:
        parser.error('--process-batch-size must be at least 1')
    if opts.process_batch_timeout < 0.01:
        parser.error('--process-batch-timeout must be at least 0.01')
    if opts.mix == 'mix':
        instances = opts.instances or (50 if opts.quick else 2000)
    else:
        instances = opts.count or (200 if opts.quick else 2000)
    scale: List[int] = []
    if opts.listeners > 0:
        scale = sorted({1, 2, 4} if opts.scale else {1, opts.listeners})
    directory = pathlib.Path(tempfile.mkdtemp(prefix='novahooks-bench-'))
    broker = RabbitServer.temporary()
    bind: Optional[BindServer] = None
    postgres: Optional[PostgresServer] = None
    tag = 'bench-%d' % os.getpid()
    inproc = [('bridge', 'audit', 200.0, DEFAULT_BATCH),
              ('novahooks', ALL, 200.0, DEFAULT_BATCH),
              ('single', ALL, 200.0, 1),
              ('batched', ALL, 200.0, opts.batch_size)]
    if opts.profile:
        inproc.append(('profiled', ALL, 200.0, DEFAULT_BATCH))
    processes = ([('sqlite', 1)] if scale else []) + [
        ('postgresql', n) for n in scale]
    pools = ['%s-bare' % tag] + ['%s-%s' % (tag, name)
                                 for name, _, _, _ in inproc] + [
        '%s-procs-%s-%d' % (tag, kind, n) for kind, n in processes]
    results: Dict[str, Any] = {
        'python': sys.version.split()[0], 'mix': opts.mix, 'dns': opts.dns,
        'instances': instances, 'process_settings': {
            'dns_budget_ms': opts.process_dns_budget_ms,
            'batch_size': opts.process_batch_size,
            'batch_timeout': opts.process_batch_timeout}}
    try:
        sample_dir = samples.fetch()
        started = time.perf_counter()
        if opts.mix == 'mix':
            batch = mix_messages(sample_dir, instances, opts.window)
        else:
            batch = create_messages(sample_dir, instances)
        results['build_seconds'] = time.perf_counter() - started
        count = results['count'] = len(batch)
        results['by_event_type'] = {}
        for message in batch:
            kind = message['event_type']
            results['by_event_type'][kind] = (
                results['by_event_type'].get(kind, 0) + 1)
        broker.start()
        if opts.dns == 'rfc2136':
            bind = BindServer(pathlib.Path(tempfile.mkdtemp(
                prefix='novahooks-bind-')), free_port())
            bind.start()
        if scale:
            postgres = PostgresServer.temporary()
            postgres.start()
        for pool in pools:
            declare(broker.url, directory, pool)
        results['publish_seconds'] = publish(broker.url, directory, batch)
        queues = Queues(broker.url)
        depth = {pool: queues.state(pool)[0] for pool in pools}
        queues.close()
        if any(found != count for found in depth.values()):
            raise RuntimeError('queues do not hold %d notifications each: %r'
                               % (count, depth))
        results['bare'] = run_bare(broker.url, directory, pools[0], count)
        for (name, plugins, budget, size), pool in zip(inproc, pools[1:]):
            results[name] = run_inprocess(
                broker.url, directory / name, pool, batch, plugins, bind,
                opts.workers if plugins == ALL else 1, budget, size,
                opts.profile if name == 'profiled' else None)
        del batch
        results['processes'] = []
        for (kind, n), pool in zip(processes, pools[1 + len(inproc):]):
            results['processes'].append(run_processes(
                broker.url, directory / ('procs-%s-%d' % (kind, n)), pool,
                count, instances, opts.mix, n, bind,
                postgres if kind == 'postgresql' else None,
                opts.process_dns_budget_ms, opts.process_batch_size,
                opts.process_batch_timeout))
    finally:
        if postgres is not None:
            postgres.remove()
        if bind is not None:
            bind.remove()
        broker.remove()
        config.reset()
        shutil.rmtree(str(directory), ignore_errors=True)
    ratios(results)
    if opts.json:
        print(json.dumps(results, indent=2, default=str))
    else:
        report(results, opts)
    if opts.profile and not opts.json:
        print_profile(opts.profile)
    return 0


def ratios(results: Dict[str, Any]) -> None:
    bare = results['bare']['per_second']
    for name in ('bridge', 'novahooks', 'single', 'batched',
                 'profiled'):
        if name in results:
            results[name]['ratio'] = results[name]['per_second'] / bare
    one_pg = [r for r in results['processes']
              if r['database'] == 'postgresql' and r['listeners'] == 1]
    for run in results['processes']:
        run['ratio'] = run['per_second'] / bare
        if one_pg:
            run['ratio_to_1_postgresql'] = (
                run['per_second'] / one_pg[0]['per_second'])


def report(results: Dict[str, Any], opts: Any) -> None:
    count = results['count']
    if results['mix'] == 'mix':
        what = ('%d instances, %d notifications (%s), interleaved %d at '
                'once' % (results['instances'], count, ', '.join(
                    '%s %d' % (k, v) for k, v in sorted(
                        results['by_event_type'].items())), opts.window))
    else:
        what = '%d instance.create.end notifications' % count
    print('novahooks listen, %s; DNS %s; Python %s' % (
        what, 'rfc2136 to BIND' if results['dns'] == 'rfc2136'
        else 'hosts file', results['python']))
    print('(built in %.1f s, published once in %.1f s: %.0f/s)' % (
        results['build_seconds'], results['publish_seconds'],
        count / results['publish_seconds']))
    print('in this process (one listener, state in SQLite):')
    print('  bare oslo.messaging listener (no-op endpoint): %.0f/s' % (
        results['bare']['per_second']))
    labels = [
        ('bridge', 'the bridge alone (audit only)'),
        ('novahooks', 'all plugins, the default settings (audit, dns, '
                      'storage, netinfo; batches of %d; %d worker%s)' % (
                          DEFAULT_BATCH, opts.workers,
                          '' if opts.workers == 1 else 's')),
        ('single', 'the same, [listen] batch_size = 1 (one message at a '
                   'time, DNS sent within send_budget_ms)'),
        ('batched', 'the same, [listen] batch_size = %d' % opts.batch_size)]
    for name, label in labels:
        run = results[name]
        print('  %s: %.0f/s; %.2fx bare%s; peak RSS %.0f MiB (%.0f at the '
              'start); %.2f SQL statements and %.3f ms of handling CPU '
              'per notification' % (
                  label, run['per_second'], run['ratio'],
                  ' (%s)' % targets.LISTEN_DEFAULT_RATIO.judged(
                      run['ratio']) if name == 'novahooks' else '',
                  run['peak_rss_mib'], run['rss_start_mib'],
                  run['statements_per_message'], run['handling_cpu_ms']))
        if name != 'bridge':
            parts(run['seconds_by_part'], count, run['seconds'])
    if results['processes']:
        print('novahooks listen processes (python -m novahooks_core.cli.app '
              'listen; one pool; [dns] send_budget_ms %g; [listen] '
              'batch_size %d%s):' % (
                  opts.process_dns_budget_ms, opts.process_batch_size,
                  ', batch_timeout %g' % opts.process_batch_timeout
                  if opts.process_batch_size > 1 else ''))
    for run in results['processes']:
        counts = run['counts']
        extra = ', '.join('%s %d' % (k, counts[k]) for k in (
            'stale', 'duplicate', 'deleted', 'parked') if counts.get(k))
        print('  %d on %s: %.0f/s; %.2fx bare%s; %.1f s (%.1f s of start-up'
              ' to the first consuming); handled %d%s%s; peak RSS %s MiB'
              % (run['listeners'], 'PostgreSQL' if run['database'] ==
                 'postgresql' else 'SQLite', run['per_second'], run['ratio'],
                 '; %.2fx 1 on PostgreSQL' % run['ratio_to_1_postgresql']
                 if 'ratio_to_1_postgresql' in run else '', run['seconds'],
                 run['first_consuming_seconds'], counts.get('handled', 0),
                 ' (%s)' % extra if extra else '',
                 '' if not run['failed'] and not run['dns_outbox_left']
                 and run['handled_complete'] else
                 '; NOT CLEAN: %d failed, %d DNS changes unsent, handled '
                 'complete: %s' % (run['failed'], run['dns_outbox_left'],
                                   run['handled_complete']),
                 ', '.join('%.0f' % p for p in run['peak_rss_mib'])))
    judge(results)
    if 'profiled' in results:
        run = results['profiled']
        print('profiled all-plugins run: %.0f/s (cProfile slows it down); %d'
              ' threads profiled (%d still running, left out); stats in %s'
              % (run['per_second'], run['profile']['threads'],
                 run['profile']['still_running'], run['profile']['file']))


def judge(results: Dict[str, Any]) -> None:
    """Each target this run measured (:mod:`targets`): met or MISSED."""
    found = [(targets.LISTEN_DEFAULT_RATIO, results['novahooks']['ratio']),
             (targets.LISTEN_BEST_BATCH_RATIO, max(
                 results[name]['ratio'] for name in
                 ('novahooks', 'single', 'batched') if name in results))]
    for run in results['processes']:
        if run['database'] == 'postgresql' and run['listeners'] == 1:
            found.append((targets.LISTEN_POSTGRESQL_RATIO, run['ratio']))
        if run['listeners'] == 2 and 'ratio_to_1_postgresql' in run:
            found.append((targets.LISTEN_TWO_LISTENERS_RATIO,
                          run['ratio_to_1_postgresql']))
        found.append((targets.LISTEN_PEAK_RSS_MIB, max(run['peak_rss_mib'])))
    print('targets:')
    for target, value in found:
        print('  %-58s %8.2f%s (%s)' % (target.what, value, target.unit,
                                        target.judged(value)))


def parts(spent: Dict[str, float], count: int, elapsed: float) -> None:
    print('    where the time goes (with several workers, handler times '
          'are summed over them):')
    for part, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print('      %-44s %7.3f ms per notification (%4.1f%%)' % (
            part, seconds / count * 1000, 100 * seconds / elapsed))


def print_profile(path: str) -> None:
    """Top 25 by cumulative and by own time (every profiled thread,
    waits included), then by cumulative time among novahooks' own
    functions (the handling path)."""
    stats = pstats.Stats(path, stream=sys.stdout)
    for key in ('cumulative', 'tottime'):
        print('--- top 25 by %s (all threads, waiting included)' % key)
        stats.sort_stats(key).print_stats(25)
    print('--- top 25 by cumulative, novahooks code only')
    stats.sort_stats('cumulative').print_stats(r'novahooks_', 25)


if __name__ == '__main__':
    sys.exit(main())
