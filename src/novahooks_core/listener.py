"""``novahooks listen``: the enabled plugins fed from Nova's versioned
notifications (Nova 22 and later have no hooks).

An oslo.messaging notification listener (threading executor) on the
``versioned_notifications`` topic of the ``nova`` exchange, in its own
pool, so it never takes messages from other consumers. Each mapped
notification (:mod:`novahooks_core.notifications`) runs the same handlers,
guarded the same way, as the hook dispatcher.

- A handler that fails (``error``) requeues the message, up to
  ``max_attempts`` deliveries seen by this process; then the message is
  recorded as failed in ``<state_dir>/listen-failed.jsonl`` and dropped.
- A message that cannot be read, or that a handler rejects as bad input,
  is recorded as failed at once: retrying cannot help, and the queue is
  never blocked.
- SIGTERM and SIGINT stop consuming, let the in-flight messages finish,
  and exit, within :data:`STOP_SECONDS` whatever the broker does: while
  it cannot be reached (oslo.messaging retries for ever) the listener
  stops at once, and a stop that hangs on a dead broker is given up (the
  broker redelivers what was not acknowledged).
- If the broker goes away, oslo.messaging reconnects; messages waiting in
  the durable queue (``[oslo_messaging_rabbit] amqp_durable_queues``) are
  then delivered. While it cannot be reached the listener says so (a
  WARNING with the URL, its password masked).

The failure records hold the message id, event type, publisher, instance
UUID, outcome and attempts: never the payload.
"""

import collections
import datetime
import os
import signal
import threading
import time
from typing import Any, Dict, List, Mapping, Optional

from oslo_config import cfg
from oslo_log import log as logging

from novahooks_core import config, dispatch, notifications, redact
from novahooks_core.journal import Journal
from novahooks_core.normalize import BadInput, as_str

LOG = logging.getLogger(__name__)

OPTS = [
    cfg.StrOpt('transport_url', secret=True,
               default='rabbit://guest:guest@127.0.0.1:5672/',
               help='oslo.messaging URL of the bus Nova notifies on (the '
                    'transport_url of Nova\'s [oslo_messaging_notifications]'
                    ' or [DEFAULT]).'),
    cfg.StrOpt('exchange', default='nova',
               help='Exchange Nova publishes on (Nova\'s control_exchange).'),
    cfg.StrOpt('topic', default='versioned_notifications',
               help='Nova\'s [notifications] versioned_notifications_topics.'),
    cfg.StrOpt('pool', default='novahooks',
               help='Listener pool: listeners of one pool share a queue '
                    'and split the messages; other consumers of the topic '
                    'are not affected.'),
    cfg.IntOpt('workers', default=1, min=1,
               help='Messages handled at once by one listener. 1 keeps '
                    'the notifications of an instance in order; more '
                    'trades that order for throughput.'),
    cfg.IntOpt('max_attempts', default=3, min=1,
               help='Deliveries of a message whose handler fails before '
                    'it is recorded as failed and dropped.'),
    cfg.FloatOpt('requeue_delay', default=1.0, min=0,
                 help='Seconds to wait before requeueing a failed message '
                      '(times the attempt number).'),
]

#: Time given to oslo.messaging to send the last acknowledgements when the
#: listener stops (its acknowledging thread runs every millisecond).
ACK_GRACE_SECONDS = 0.5

#: Longest a stop may take once asked (SIGTERM), whatever the broker does.
STOP_SECONDS = 5.0

#: How long connecting may take before the listener says it cannot reach
#: the broker (and then again every minute).
CONNECT_WARNING_SECONDS = 5.0

#: Attempts remembered per process (a message taken by another listener
#: of the pool is never seen again here): forgotten beyond this many.
_ATTEMPTS_LIMIT = 10000


class Stats:
    """What one listener did (thread-safe counters)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Dict[str, int] = collections.Counter()

    def add(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1

    def snapshot(self) -> Dict[str, int]:
        with self._lock:
            return dict(self.counts)


class NotificationEndpoint:
    """The oslo.messaging endpoint: Nova's notifications are ``INFO``."""

    def __init__(self, conf: cfg.ConfigOpts, failed: Journal) -> None:
        import oslo_messaging
        self._handled = oslo_messaging.NotificationResult.HANDLED
        self._requeue = oslo_messaging.NotificationResult.REQUEUE
        self.filter_rule = oslo_messaging.NotificationFilter(
            event_type='^(%s)$' % '|'.join(
                t.replace('.', r'\.') for t in notifications.EVENT_TYPES))
        self.max_attempts = conf.listen.max_attempts
        self.requeue_delay = conf.listen.requeue_delay
        self.failed = failed
        self.stats = Stats()
        self._attempts: Dict[str, int] = {}
        self._lock = threading.Lock()
        #: Messages being handled now.
        self.in_flight = 0

    def info(self, ctxt: Any, publisher_id: str, event_type: str,
             payload: Any, metadata: Mapping[str, Any]) -> Any:
        with self._lock:
            self.in_flight += 1
        try:
            return self.process(ctxt, publisher_id, event_type, payload,
                                metadata)
        finally:
            with self._lock:
                self.in_flight -= 1

    def process(self, ctxt: Any, publisher_id: str, event_type: str,
                payload: Any, metadata: Mapping[str, Any]) -> Any:
        """Run the enabled handlers; ``HANDLED`` or ``REQUEUE``."""
        message_id = str((metadata or {}).get('message_id') or '')
        try:
            events = notifications.events(event_type, payload, ctxt)
        except BadInput as exc:
            return self._fail(message_id, publisher_id, event_type, payload,
                              'bad_input', str(exc), 1)
        except Exception as exc:  # a bug of ours: never block the queue
            LOG.exception('novahooks listen: cannot map %s %s', event_type,
                          message_id)
            return self._fail(message_id, publisher_id, event_type, payload,
                              'error', type(exc).__name__, 1)
        outcomes: List[str] = []
        failing: List[str] = []
        for event in events:
            for handler in dispatch.active_handlers(event.hook, event.phase):
                outcome = handler.handle(event)
                outcomes.append(outcome)
                if outcome in ('error', 'bad_input'):
                    failing.append('%s:%s:%s' % (handler.plugin_name,
                                                 event.hook.value,
                                                 event.phase.value))
        if 'bad_input' in outcomes:
            return self._fail(message_id, publisher_id, event_type, payload,
                              'bad_input', ', '.join(failing), 1)
        if 'error' in outcomes:
            with self._lock:
                if len(self._attempts) >= _ATTEMPTS_LIMIT:
                    self._attempts.clear()
                attempt = self._attempts[message_id] = (
                    self._attempts.get(message_id, 0) + 1)
            if attempt < self.max_attempts:
                LOG.warning('novahooks listen: %s %s failed in %s (attempt '
                            '%d of %d); requeued', event_type, message_id,
                            ', '.join(failing), attempt, self.max_attempts)
                self.stats.add('requeued')
                time.sleep(self.requeue_delay * attempt)
                return self._requeue
            return self._fail(message_id, publisher_id, event_type, payload,
                              'error', ', '.join(failing), attempt)
        with self._lock:
            self._attempts.pop(message_id, None)
        self.stats.add('handled')
        self.stats.add(event_type)
        return self._handled

    def _fail(self, message_id: str, publisher_id: str, event_type: str,
              payload: Any, outcome: str, reason: str, attempts: int) -> Any:
        with self._lock:
            self._attempts.pop(message_id, None)
        instance = None
        try:
            instance = as_str(notifications.data(payload, 'payload').get(
                'uuid'))
        except Exception:
            pass
        record = {
            'at': datetime.datetime.utcnow().isoformat() + 'Z',
            'message_id': message_id, 'event_type': str(event_type)[:100],
            'publisher_id': str(publisher_id)[:100], 'instance': instance,
            'outcome': outcome, 'reason': reason[:500],
            'attempts': attempts}
        self.failed.append(record)
        self.stats.add('failed')
        LOG.error('novahooks listen: %s %s (instance %s) recorded as failed '
                  'after %d attempt(s): %s: %s', event_type, message_id,
                  instance, attempts, outcome, reason[:500])
        return self._handled


def failed_journal() -> Journal:
    """Where the messages given up on are recorded."""
    return Journal(os.path.join(config.state_dir(), 'listen-failed.jsonl'))


class Listener:
    """A notification listener for the current configuration."""

    def __init__(self) -> None:
        import oslo_messaging
        conf = config.register_plugin_opts('listen', OPTS)
        group = conf.listen
        self.url = group.transport_url
        self.transport = oslo_messaging.get_notification_transport(
            conf, url=group.transport_url)
        self.failed = failed_journal()
        self.endpoint = NotificationEndpoint(conf, self.failed)
        self.server = oslo_messaging.get_notification_listener(
            self.transport,
            [oslo_messaging.Target(topic=group.topic,
                                   exchange=group.exchange)],
            [self.endpoint], executor='threading', pool=group.pool,
            allow_requeue=True)
        # Registered by the listener just made; read when it starts.
        conf.set_override('executor_thread_pool_size', group.workers)
        self._stopping = threading.Event()

    @property
    def stats(self) -> Stats:
        return self.endpoint.stats

    def start(self) -> None:
        """Connect and consume (blocks while the broker cannot be
        reached)."""
        self.server.start()
        LOG.info('novahooks listen: consuming; plugins %s',
                 ','.join(sorted(config.enabled_plugins())))

    def stop(self, timeout: float = 300.0) -> None:
        """Stop consuming; return when the in-flight messages are done and
        acknowledged."""
        self.server.stop()
        deadline = time.monotonic() + timeout
        while self.endpoint.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        # oslo.messaging acknowledges from another thread once the handler
        # has returned; before 12.x's clean-up stops that thread (which may
        # drop a last acknowledgement: the message would come again).
        time.sleep(ACK_GRACE_SECONDS)
        self.server.wait()
        self.transport.cleanup()
        LOG.info('novahooks listen: stopped; %s', self.stats.snapshot())

    def request_stop(self, *_: Any) -> None:
        """Signal handler: make :meth:`run` stop."""
        self._stopping.set()

    def run(self, ready: Optional[threading.Event] = None) -> None:
        """Consume until SIGTERM or SIGINT (or :meth:`request_stop`);
        returns within :data:`STOP_SECONDS` of being asked, whatever the
        broker does."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
        # oslo.messaging retries a broker it cannot reach for ever, inside
        # start(): connect in a thread, so a stop is heard meanwhile.
        started = threading.Event()
        failure: List[BaseException] = []

        def connect() -> None:
            try:
                self.start()
            except BaseException as exc:  # raised again below
                failure.append(exc)
            finally:
                started.set()
        threading.Thread(target=connect, daemon=True,
                         name='novahooks-listen-connect').start()
        since = time.monotonic()
        warn_at = since + CONNECT_WARNING_SECONDS
        while not self._stopping.is_set() and not started.is_set():
            if time.monotonic() >= warn_at:
                LOG.warning('novahooks listen: cannot reach the broker at %s '
                            'for %.0f s; still trying',
                            redact.mask_url(self.url),
                            time.monotonic() - since)
                warn_at = time.monotonic() + 60.0
            self._stopping.wait(0.1)
        if failure:
            raise failure[0]
        if not started.is_set():
            LOG.warning('novahooks listen: stopped before the broker at %s '
                        'could be reached', redact.mask_url(self.url))
            return
        if ready is not None:
            ready.set()
        try:
            while not self._stopping.wait(1.0):
                pass
        finally:
            self._bounded_stop()

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


def list_opts() -> List[Any]:
    """``[listen]`` options, for ``oslo-config-generator``."""
    return [('listen', list(OPTS))]


__all__ = ['Listener', 'NotificationEndpoint', 'OPTS', 'Stats',
           'failed_journal', 'list_opts']
