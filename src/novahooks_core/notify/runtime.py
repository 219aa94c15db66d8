"""``novahooks listen`` running (:class:`Listener`): one oslo.messaging
server per bus (:class:`_Bus`) feeding one
:class:`~novahooks_core.notify.endpoint.NotificationEndpoint`, the
retrier of parked messages, the status file, ``/metrics``, and signals.

- SIGTERM and SIGINT stop consuming, let the in-flight messages finish,
  and exit, within :data:`STOP_SECONDS` whatever the broker does: while
  it cannot be reached (oslo.messaging retries for ever) the listener
  stops at once, and a stop that hangs on a dead broker is given up (the
  broker redelivers what was not acknowledged).
- If a broker goes away, oslo.messaging reconnects; messages waiting in
  the durable queue (``[oslo_messaging_rabbit] amqp_durable_queues``) are
  then delivered. While it cannot be reached the listener says so (a
  WARNING with the URL, its password masked).
"""

import contextlib
import os
import signal
import threading
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from oslo_log import log as logging
from oslo_utils import timeutils

from novahooks_core import config
from novahooks_core.containment import redact
from novahooks_core.notify import lag, mapping, neutron
from novahooks_core.notify.endpoint import NotificationEndpoint, ServerEndpoint
from novahooks_core.notify.message import Stats
from novahooks_core.notify.options import DEFAULT_TRANSPORT_URL, configured
from novahooks_core.notify.parking import failed_journal
from novahooks_core.notify.transport import bus_urls, server_connected

LOG = logging.getLogger(__name__)

#: Time given to oslo.messaging to send the last acknowledgements when the
#: listener stops (its acknowledging thread runs every millisecond).
ACK_GRACE_SECONDS = 0.5

#: Longest a stop may take once asked (SIGTERM), whatever the broker does.
STOP_SECONDS = 5.0

#: How long connecting may take before the listener says it cannot reach
#: the broker (and then again every minute).
CONNECT_WARNING_SECONDS = 5.0

#: How often parked messages are looked at, and tombstones pruned.
RETRY_POLL_SECONDS = 0.5
PRUNE_SECONDS = 3600.0
#: Batches RabbitMQ delivers ahead, by default (:func:`bound_prefetch`),
#: and the fewest messages. Measured on a 20,000-message backlog: 1,000
#: kept a listener at 108-114 MiB; 200 at 90-97 MiB but slowed one on
#: PostgreSQL by 40% (its acknowledgements came back too late to keep it
#: fed).
PREFETCH_BATCHES = 10
MIN_PREFETCH = 100


#: The priorities oslo.messaging may call an endpoint's method for.
_PRIORITIES = ('audit', 'debug', 'info', 'warn', 'error', 'critical',
               'sample')


class _Bus:
    """One broker a :class:`Listener` consumes: its transport,
    oslo.messaging's listeners on it (Nova's, and Neutron's when it has a
    pool of its own), and how far they got."""

    def __init__(self, url: str, transport: Any) -> None:
        self.url = url
        #: As logs, the status file and the metrics say it: password masked.
        self.shown = redact.mask_url(url)
        self.transport = transport
        self.servers: List[Any] = []
        #: The servers started and not yet taken by :meth:`Listener.stop`.
        self.started: List[Any] = []
        #: Set once every server of the bus consumes.
        self.consuming = threading.Event()
        #: Set by :meth:`Listener.stop`: a server started afterwards is
        #: stopped by the thread that started it.
        self.abandoned = False
        #: What starting a server raised.
        self.failure: Optional[BaseException] = None
        #: When to say again that its broker cannot be reached.
        self.warn_at = 0.0
        self.warned = False
        self._lock = threading.Lock()
        self._received = 0

    def counted(self, endpoint: ServerEndpoint, batched: bool
                ) -> ServerEndpoint:
        """``endpoint``, its methods counting the messages of this bus."""
        for priority in _PRIORITIES:
            handle = getattr(endpoint, priority, None)
            if handle is not None:
                setattr(endpoint, priority, self._counting(handle, batched))
        return endpoint

    def _counting(self, handle: Any, batched: bool) -> Any:
        def counting(*args: Any) -> Any:
            with self._lock:
                self._received += len(args[0]) if batched else 1
            return handle(*args)
        return counting

    @property
    def received(self) -> int:
        """Messages this bus delivered (redeliveries included)."""
        with self._lock:
            return self._received

    @property
    def connected(self) -> bool:
        """Consuming, and no server's broker connection is down now (a
        killed broker: oslo.messaging is reconnecting)."""
        return self.consuming.is_set() and not any(
            server_connected(server) is False
            for server in self.servers)

    def status(self) -> Dict[str, Any]:
        return {'url': self.shown, 'consuming': self.consuming.is_set(),
                'connected': self.connected, 'received': self.received}

    def close(self, servers: Sequence[Any]) -> None:
        """Wait for ``servers`` (stopped) to finish, then clean up."""
        for server in servers:
            server.wait()
        self.transport.cleanup()


def bound_prefetch(conf: Any, batch_size: int) -> None:
    """Unless the operator set ``[oslo_messaging_rabbit]
    rabbit_qos_prefetch_count``, let RabbitMQ deliver :data:`PREFETCH_BATCHES`
    batches ahead (at least :data:`MIN_PREFETCH` messages): oslo.messaging's
    default, 0, has the broker push a whole backlog into the listener's
    memory at once (measured: 343 MiB for 20,000 notifications on SQLite,
    433 on PostgreSQL; bounded at 1,000: 114 and 108 MiB)."""
    import oslo_messaging.opts
    for group, opts in oslo_messaging.opts.list_opts():
        if group == 'oslo_messaging_rabbit':
            conf.register_opts(opts, group=group)
            conf.set_default('rabbit_qos_prefetch_count', max(
                PREFETCH_BATCHES * batch_size, MIN_PREFETCH), group=group)


class Listener:
    """A notification listener for the current configuration.

    One oslo.messaging listener per bus: each of ``[listen]
    transport_urls`` (one per cell whose computes notify on their own
    cell's broker), or else ``transport_url``; and Neutron's, with
    ``neutron``. All feed the same :class:`NotificationEndpoint`, so one
    order guard: a message delivered by two buses takes effect once. Each
    bus is connected to on its own: one whose broker cannot be reached is
    said (a WARNING, its password masked) and retried while the others are
    consumed; each bus is in the status file and the metrics.
    """

    def __init__(self) -> None:
        import oslo_messaging
        conf = configured()
        group = conf.listen
        urls = bus_urls(group)
        if group.transport_urls and group.transport_url not in urls and (
                group.transport_url != DEFAULT_TRANSPORT_URL):
            LOG.warning('novahooks listen: transport_url %s is not consumed:'
                        ' transport_urls is set (list it there if Nova '
                        'notifies on it too)',
                        redact.mask_url(group.transport_url))
        #: The (first) bus Nova notifies on.
        self.url = urls[0]
        self.failed = failed_journal()
        neutron_url = group.neutron_transport_url or urls[0]
        # Neutron's notifications on one of the buses, in its pool, share
        # Nova's queue there (oslo.messaging names a pool's queue after the
        # pool): one listener, one endpoint for both; else a listener of
        # their own.
        shared = neutron_url if group.neutron and neutron_url in urls and (
            group.neutron_pool == group.pool) else None
        self.endpoint = NotificationEndpoint(conf, self.failed)
        self._retrier: Optional[threading.Thread] = None
        batched = group.batch_size > 1
        targets = [oslo_messaging.Target(topic=group.topic,
                                         exchange=group.exchange)]
        neutron_target = oslo_messaging.Target(
            topic=group.neutron_topic, exchange=group.neutron_exchange)
        bound_prefetch(conf, group.batch_size)
        #: The buses consumed: Nova's, in order, then Neutron's own.
        self.buses: List[_Bus] = []
        for url in urls:
            bus = _Bus(url, oslo_messaging.get_notification_transport(
                conf, url=url))
            bus.servers.append(self._server(
                bus.transport,
                targets + ([neutron_target] if url == shared else []),
                bus.counted(ServerEndpoint(
                    self.endpoint, tuple(mapping.EVENT_TYPES) + (
                        neutron.EVENT_TYPES if url == shared else ()),
                    batched=batched), batched), group.pool, group))
            self.buses.append(bus)
        #: The first bus's transport and Nova listener.
        self.transport = self.buses[0].transport
        self.server = self.buses[0].servers[0]
        #: Neutron's listener, when it has its own pool or bus.
        self.neutron_server: Any = None
        self.neutron_transport: Any = None
        if group.neutron and shared is None:
            found = [bus for bus in self.buses if bus.url == neutron_url]
            bus = found[0] if found else _Bus(
                neutron_url, oslo_messaging.get_notification_transport(
                    conf, url=neutron_url))
            if not found:
                self.buses.append(bus)
            self.neutron_transport = bus.transport
            self.neutron_server = self._server(
                bus.transport, [neutron_target], bus.counted(ServerEndpoint(
                    self.endpoint, neutron.EVENT_TYPES, ('info',),
                    batched=batched), batched), group.neutron_pool, group)
            bus.servers.append(self.neutron_server)
        # Registered by the listeners just made; read when they start.
        conf.set_override('executor_thread_pool_size', group.workers)
        self._stopping = threading.Event()
        #: Guards each bus's ``started`` and ``abandoned``.
        self._buses_lock = threading.Lock()
        self.behind_seconds = group.behind_seconds
        self.pool = group.pool
        self.status_path = lag.status_path(config.state_dir())
        self._status_lock = threading.Lock()
        self._status_removed = False
        self._started_at = timeutils.utcnow().isoformat() + 'Z'
        self._reported_at = 0.0
        self._logged_at = 0.0
        self.metrics_port = group.metrics_port
        self.metrics_host = group.metrics_host
        self._serving = False
        self._metrics_server: Any = None

    @staticmethod
    def _server(transport: Any, targets: List[Any], endpoint: Any,
                pool: str, group: Any) -> Any:
        """oslo.messaging's listener, or its batch listener."""
        import oslo_messaging
        if group.batch_size > 1:
            return oslo_messaging.get_batch_notification_listener(
                transport, targets, [endpoint], executor='threading',
                pool=pool, allow_requeue=True, batch_size=group.batch_size,
                batch_timeout=group.batch_timeout)
        return oslo_messaging.get_notification_listener(
            transport, targets, [endpoint], executor='threading', pool=pool,
            allow_requeue=True)

    @property
    def stats(self) -> Stats:
        return self.endpoint.stats

    def start(self) -> None:
        """Connect to each bus in turn and consume (blocks while a broker
        cannot be reached); retry parked messages in the background.
        (:meth:`run` connects to each bus on its own.)"""
        self._start_background()
        for bus in self.buses:
            self._connect(bus)
        self._say_consuming()

    def _start_background(self) -> None:
        """The retrier, the status writer and /metrics (once)."""
        if self._retrier is None:
            self._retrier = threading.Thread(
                target=self._retry_parked, daemon=True,
                name='novahooks-listen-retry')
            self._retrier.start()
            # Apart from the retrier, which waits for databases.
            threading.Thread(target=self._report_lag, daemon=True,
                             name='novahooks-listen-lag').start()
        if self.metrics_port and not self._serving:
            from novahooks_core.containment import metrics
            self._metrics_server = metrics.serve(
                self.metrics_host, self.metrics_port, metrics.registry(
                    metrics.handler_families, self.families,
                    lambda: metrics.gauge_families(
                        metrics.plugin_gauges())))
            self._serving = True
            LOG.info('novahooks listen: metrics on http://%s:%d/metrics',
                     self.metrics_host, self.metrics_port)

    def _connect(self, bus: _Bus) -> None:
        """Start ``bus``'s servers (each blocks until the broker is
        reached); one started after :meth:`stop` gave up on the bus is
        stopped at once."""
        for server in bus.servers:
            server.start()
            with self._buses_lock:
                late = bus.abandoned
                if not late:
                    bus.started.append(server)
            if late:
                server.stop()
                bus.close([server])
                return
        with self._buses_lock:
            if bus.abandoned:
                return
            bus.consuming.set()
        if bus.warned:
            LOG.info('novahooks listen: reached the broker at %s; consuming '
                     'it', bus.shown)
        elif len(self.buses) > 1:
            LOG.info('novahooks listen: consuming the bus at %s', bus.shown)

    def _connect_in_background(self, bus: _Bus) -> None:
        try:
            self._connect(bus)
        except BaseException as exc:  # raised again by run()
            LOG.error('novahooks listen: cannot consume the bus at %s: %s',
                      bus.shown, redact.scrub('%s: %s' % (
                          type(exc).__name__, exc), [bus.url]))
            bus.failure = exc

    def _say_consuming(self) -> None:
        LOG.info('novahooks listen: consuming%s%s; plugins %s',
                 ' Nova\'s and Neutron\'s notifications'
                 if self.endpoint.neutron else '',
                 ' (%d buses)' % len(self.buses)
                 if len(self.buses) > 1 else '',
                 ','.join(sorted(config.enabled_plugins())))

    def families(self) -> List[Any]:
        """This listener's metrics: messages by outcome, the order guard's
        verdicts, its lag, and each bus's state."""
        from prometheus_client.core import CounterMetricFamily

        from novahooks_core.containment.metrics import Gauge, gauge_families
        counts = self.stats.snapshot()
        messages = CounterMetricFamily(
            'novahooks_listen_messages', 'Notifications handled, parked '
            'to be retried, or recorded as failed.', labels=['outcome'])
        for outcome in ('handled', 'parked', 'failed'):
            messages.add_metric([outcome], counts.get(outcome, 0))
        verdicts = CounterMetricFamily(
            'novahooks_listen_skipped', 'Effects the order guard skipped, '
            'per plugin and notification, by verdict.', labels=['verdict'])
        for verdict in ('duplicate', 'stale', 'deleted', 'pending'):
            verdicts.add_metric([verdict], counts.get(verdict, 0))
        received = CounterMetricFamily(
            'novahooks_listen_bus_messages', 'Notifications each bus '
            'delivered (redeliveries included), by bus (its URL, password '
            'masked).', labels=['bus'])
        for bus in self.buses:
            received.add_metric([bus.shown], bus.received)
        now = self.endpoint.lag.lag()
        return [messages, verdicts, received] + gauge_families([
            Gauge('novahooks_listen_lag_seconds', 'Age of the oldest '
                  'notification being handled (0: none).', now.age),
            Gauge('novahooks_listen_rate_per_second', 'Notifications '
                  'handled per second over the last minute.', now.rate),
            Gauge('novahooks_listen_in_flight', 'Notifications being '
                  'handled.', now.in_flight),
            Gauge('novahooks_listen_behind', '1 while the lag is above '
                  'behind_seconds.', int(now.behind(self.behind_seconds)))]
            + [Gauge('novahooks_listen_bus_consuming', '1 once the listener '
                     'consumes the bus; 0 while its broker has not been '
                     'reached yet (by bus: its URL, password masked).',
                     int(bus.consuming.is_set()), {'bus': bus.shown})
               for bus in self.buses]
            + [Gauge('novahooks_listen_bus_connected', '1 while the '
                     'listener consumes the bus and its broker connection '
                     'is up; 0 while it cannot be reached or was lost (by '
                     'bus: its URL, password masked).', int(bus.connected),
                     {'bus': bus.shown})
               for bus in self.buses])

    def status(self) -> Dict[str, Any]:
        """What ``novahooks listen status`` shows of this listener."""
        now = self.endpoint.lag.lag()
        buses = [bus.status() for bus in self.buses]
        return {'pid': os.getpid(), 'pool': self.pool,
                'connected': all(bus['connected'] for bus in buses),
                'neutron': self.endpoint.neutron,
                'started_at': self._started_at,
                'updated_at': timeutils.utcnow().isoformat() + 'Z',
                'lag_seconds': now.age, 'rate_per_second': now.rate,
                'in_flight': now.in_flight,
                'behind': now.behind(self.behind_seconds),
                'behind_seconds': self.behind_seconds,
                'counts': self.stats.snapshot(), 'buses': buses}

    def report(self, force: bool = False) -> None:
        """Write the status file every :data:`lag.STATUS_SECONDS`; log the
        lag at INFO every minute while behind."""
        now = time.monotonic()
        if force or now - self._reported_at >= lag.STATUS_SECONDS:
            self._reported_at = now
            with self._status_lock:
                if not self._status_removed:
                    lag.write_status(self.status_path, self.status())
        found = self.endpoint.lag.lag()
        if found.behind(self.behind_seconds) and (
                now - self._logged_at >= 60.0):
            self._logged_at = now
            LOG.info('novahooks listen: behind the bus: the oldest message '
                     'being handled is %.0f s old (%d in flight); handling '
                     '%.1f messages/s over the last minute', found.age,
                     found.in_flight, found.rate)

    def _report_lag(self) -> None:
        while not self._stopping.wait(RETRY_POLL_SECONDS):
            try:
                self.report()
            except Exception:
                LOG.exception('novahooks listen: cannot write its status '
                              'to %s', self.status_path)

    def _retry_parked(self) -> None:
        pruned_at = 0.0
        while not self._stopping.wait(RETRY_POLL_SECONDS):
            try:
                self.endpoint.retry_due()
                if time.monotonic() - pruned_at >= PRUNE_SECONDS:
                    pruned_at = time.monotonic()
                    gone = self.endpoint.guard.prune()
                    if gone:
                        LOG.info('novahooks listen: forgot %d deleted '
                                 'instance(s) older than the tombstone '
                                 'retention', gone)
            except Exception:
                LOG.exception('novahooks listen: retrying parked messages '
                              'failed; trying again')

    def stop(self, timeout: float = 300.0) -> None:
        """Stop consuming; return when the in-flight messages are done and
        acknowledged. A bus still being connected to is given up: its
        servers are stopped as soon as they start."""
        taken: List[Tuple[_Bus, List[Any]]] = []
        with self._buses_lock:
            for bus in self.buses:
                bus.abandoned = True
                if bus.started:
                    taken.append((bus, bus.started))
                    bus.started = []
        for _, servers in taken:
            for server in servers:
                server.stop()
        deadline = time.monotonic() + timeout
        while self.endpoint.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        if taken:
            # oslo.messaging acknowledges from another thread once the
            # handler has returned; before 12.x's clean-up stops that
            # thread (which may drop a last acknowledgement: the message
            # would come again).
            time.sleep(ACK_GRACE_SECONDS)
        # Each bus's clean-up on its own: a dead broker holds up only its
        # own.
        closing = [threading.Thread(target=bus.close, args=(servers,),
                                    daemon=True,
                                    name='novahooks-listen-close')
                   for bus, servers in taken]
        for thread in closing:
            thread.start()
        for thread in closing:
            thread.join()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
            self._metrics_server = None
        self._remove_status()
        LOG.info('novahooks listen: stopped; %s', self.stats.snapshot())

    def _remove_status(self) -> None:
        """Remove the status file, for good: the status writer may not
        write it again (a listener that stopped is not listed)."""
        with self._status_lock:
            self._status_removed = True
            with contextlib.suppress(OSError):
                os.unlink(self.status_path)

    def request_stop(self, *_: Any) -> None:
        """Signal handler: make :meth:`run` stop."""
        self._stopping.set()

    def run(self, ready: Optional[threading.Event] = None) -> None:
        """Consume until SIGTERM or SIGINT (or :meth:`request_stop`);
        returns within :data:`STOP_SECONDS` of being asked, whatever the
        brokers do. ``ready`` is set once every bus is consumed."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
        self._start_background()
        # oslo.messaging retries a broker it cannot reach for ever, inside
        # a server's start(): connect to each bus in a thread of its own,
        # so that the others are consumed meanwhile and a stop is heard.
        since = time.monotonic()
        for bus in self.buses:
            bus.warn_at = since + CONNECT_WARNING_SECONDS
            threading.Thread(target=self._connect_in_background,
                             args=(bus,), daemon=True,
                             name='novahooks-listen-connect').start()
        failed: Optional[_Bus] = None
        try:
            failed = self._watch(since, ready)
        finally:
            try:
                self._bounded_stop()
            finally:
                self._stopping.set()  # the retrier and the status writer
                self._remove_status()  # also when the stop was given up
        if failed is not None and failed.failure is not None:
            raise failed.failure

    def _watch(self, since: float, ready: Optional[threading.Event]
               ) -> Optional[_Bus]:
        """Until a stop is asked: say each bus whose broker cannot be
        reached (after :data:`CONNECT_WARNING_SECONDS`, then every
        minute); set ``ready`` once every bus is consumed. Returns a bus
        that could not be started (its servers raised), if any."""
        consuming = False
        while not self._stopping.is_set():
            failed = next((bus for bus in self.buses
                           if bus.failure is not None), None)
            if failed is not None:
                return failed
            waiting = [bus for bus in self.buses
                       if not bus.consuming.is_set()]
            if not waiting and not consuming:
                consuming = True
                self._say_consuming()
                if ready is not None:
                    ready.set()
            now = time.monotonic()
            for bus in waiting:
                if now >= bus.warn_at:
                    LOG.warning('novahooks listen: cannot reach the broker '
                                'at %s for %.0f s; still trying',
                                bus.shown, now - since)
                    bus.warned = True
                    bus.warn_at = now + 60.0
            self._stopping.wait(0.1 if waiting else 1.0)
        for bus in self.buses:
            if not bus.consuming.is_set():
                LOG.warning('novahooks listen: stopped before the broker at '
                            '%s could be reached', bus.shown)
        return None

    def _bounded_stop(self) -> None:
        """:meth:`stop`, given up after :data:`STOP_SECONDS` (a dead
        broker can hold oslo.messaging's clean-up): what was not
        acknowledged is redelivered by the broker."""
        stopper = threading.Thread(
            target=self.stop, kwargs={'timeout': STOP_SECONDS},
            daemon=True, name='novahooks-listen-stop')
        stopper.start()
        stopper.join(STOP_SECONDS + ACK_GRACE_SECONDS + 1.0)
        if stopper.is_alive():
            LOG.warning('novahooks listen: the broker did not let the '
                        'listener stop cleanly within %.0f s; exiting '
                        'anyway (unacknowledged messages are redelivered)',
                        STOP_SECONDS)


__all__ = ['ACK_GRACE_SECONDS', 'CONNECT_WARNING_SECONDS', 'Listener',
           'STOP_SECONDS']
