"""``novahooks listen``: the enabled plugins fed from Nova's versioned
notifications (Nova 22 and later have no hooks).

An oslo.messaging notification listener (threading executor) on the
``versioned_notifications`` topic of the ``nova`` exchange, priorities
``INFO`` and ``ERROR``, in its own pool, so it never takes messages from
other consumers. Each mapped notification (:mod:`.mapping`) runs the same
handlers, guarded the same way, as the hook dispatcher, under the order
guard (:mod:`.guard`): effects take place once, in each instance's order,
whatever the bus redelivers, reorders or splits between listeners.

- A handler that fails (``error``), or an order guard that cannot be
  reached, parks the message in ``<state_dir>/listen-retry.jsonl``
  (fsync'd) and acknowledges it: the consumer never sleeps, and the queue
  moves on. Parked messages are retried after ``retry_delay`` seconds
  (times the attempt); the plugins that already applied one skip it
  (their marks). After ``max_attempts`` it is recorded as failed.
- A message that cannot be read, or that a handler rejects as bad input,
  is recorded as failed at once: retrying cannot help.
- Failed messages are kept in ``<state_dir>/listen-failed.jsonl`` with the
  notification itself, so ``novahooks listen failed --replay`` can feed
  them again once the cause is fixed. Kept: the event type, publisher,
  priority, message id and timestamp, and the payload with the values of
  secret-looking instance metadata keys masked; of the request context
  only its request, project and user ids (never its token).
- SIGTERM and SIGINT stop consuming, let the in-flight messages finish,
  and exit, within :data:`STOP_SECONDS` whatever the broker does: while
  it cannot be reached (oslo.messaging retries for ever) the listener
  stops at once, and a stop that hangs on a dead broker is given up (the
  broker redelivers what was not acknowledged).
- With ``[listen] neutron``, Neutron's notifications (floating IPs and
  ports, :mod:`.neutron`) are consumed too, in their own pool (or in
  Nova's queue when ``neutron_pool`` is ``pool`` on the same bus): each
  floating IP's and port's newest fact is kept under the same ordering
  rules, and every event delivered carries the floating IPs of the
  instance's ports; an instance a floating IP joins or leaves gets an
  ``instance_network_info`` post of its newest Nova notification.
- If the broker goes away, oslo.messaging reconnects; messages waiting in
  the durable queue (``[oslo_messaging_rabbit] amqp_durable_queues``) are
  then delivered. While it cannot be reached the listener says so (a
  WARNING with the URL, its password masked).
"""

import collections
import contextlib
import dataclasses
import hashlib
import json
import os
import signal
import threading
import time
from typing import (
    Any,
    Dict,
    List,
    Mapping,
    Optional,
    Sequence,
    Set,
    Tuple,
)

from oslo_config import cfg
from oslo_log import log as logging
from oslo_utils import timeutils

from novahooks_core import config, db, redact
from novahooks_core.event import HookEvent, NotifiedEvent
from novahooks_core.journal import Journal
from novahooks_core.models import (
    HookPoint,
    Outcome,
    Phase,
)
from novahooks_core.normalize import BadInput, as_str
from novahooks_core.notify import lag, mapping, neutron
from novahooks_core.notify.batch import BatchDispatch, handlers_by_plugin
from novahooks_core.notify.facts import Verdict
from novahooks_core.notify.guard import Guard

LOG = logging.getLogger(__name__)

#: ``[listen] transport_url``'s default.
DEFAULT_TRANSPORT_URL = 'rabbit://guest:guest@127.0.0.1:5672/'

OPTS = [
    cfg.StrOpt('transport_url', secret=True,
               default=DEFAULT_TRANSPORT_URL,
               help='oslo.messaging URL of the bus Nova notifies on (the '
                    'transport_url of Nova\'s [oslo_messaging_notifications]'
                    ' or [DEFAULT]). Not used when transport_urls is set.'),
    cfg.MultiStrOpt('transport_urls', secret=True, default=[],
                    help='Several buses Nova notifies on, all consumed by '
                         'this listener into the same handlers and order '
                         'guard: one "transport_urls = URL" line each, e.g. '
                         'the broker of each cell whose computes notify in '
                         'their cell. Replaces transport_url (list it too if '
                         'Nova notifies there). A line is one URL: a '
                         'clustered broker\'s hosts stay in it, comma-'
                         'separated, as in Nova. Lines in several '
                         'configuration files add up.'),
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
               help='Attempts at a message whose handler fails before it is '
                    'recorded as failed (see "novahooks listen failed").'),
    cfg.FloatOpt('retry_delay', default=1.0, min=0,
                 deprecated_name='requeue_delay',
                 help='Seconds before a failed message is tried again '
                      '(times the attempt number); it waits in '
                      '<state_dir>/listen-retry.jsonl meanwhile.'),
    config.database_url_opt(
        "the order guard (each instance's newest notification applied, per "
        "plugin, and its tombstone), which every listener of a pool must "
        "share", 'listen'),
    cfg.FloatOpt('tombstone_days', default=7.0, min=0,
                 help='How long a deleted instance is remembered, so that '
                      'a late notification about it is ignored.'),
    cfg.IntOpt('batch_size', default=100, min=1,
               help='Messages oslo.messaging hands over at once (its batch '
                    'notification listener), decided as one unit of work: '
                    'the order guard and the plugins read and write their '
                    'state once per batch. Each message of a batch is '
                    'still handled, parked or recorded as failed on its '
                    'own. 1: one message at a time, each committed on its '
                    'own (slower).'),
    cfg.FloatOpt('batch_timeout', default=0.1, min=0.01,
                 help='Longest wait, in seconds, for a batch to fill '
                      '(batch_size > 1): what a quiet bus adds to a '
                      'notification\'s latency.'),
    cfg.FloatOpt('behind_seconds', default=30.0, min=0,
                 help='The listener is behind the bus while the oldest '
                      'message it handles is older than this (the '
                      'publisher\'s timestamp): it then logs its lag at '
                      'INFO every minute, and "novahooks listen status" '
                      'exits 1.'),
    cfg.PortOpt('metrics_port', default=0,
                help='Serve Prometheus metrics on /metrics at this port '
                     '(handlers, messages, lag, the plugins\' state); 0: '
                     'off.'),
    cfg.StrOpt('metrics_host', default='127.0.0.1',
               help='Address /metrics listens on (metrics_port).'),
    cfg.BoolOpt('neutron', default=False,
                help='Also consume Neutron\'s notifications (floating IPs '
                     'and ports, which Nova\'s do not carry): instances then '
                     'get their floating IPs on Nova 22 and later. Needs '
                     'Neutron\'s [oslo_messaging_notifications] driver = '
                     'messagingv2.'),
    cfg.StrOpt('neutron_transport_url', secret=True, default='',
               help='oslo.messaging URL of the bus Neutron notifies on; '
                    'empty: transport_url (the first of transport_urls '
                    'when set).'),
    cfg.StrOpt('neutron_exchange', default='neutron',
               help='Exchange Neutron publishes on (its control_exchange).'),
    cfg.StrOpt('neutron_topic', default='notifications',
               help='Neutron\'s [oslo_messaging_notifications] topics.'),
    cfg.StrOpt('neutron_pool', default='novahooks-neutron',
               help='Listener pool (queue) for Neutron\'s notifications. '
                    'The same as pool on the same bus: one queue for both.'),
]

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


@dataclasses.dataclass(frozen=True)
class Message:
    """One notification as received: what is kept of it to retry or replay
    it (never the context's token)."""

    event_type: str
    publisher_id: str
    payload: Any
    message_id: str = ''
    timestamp: Optional[str] = None
    priority: str = 'info'
    context: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def received(cls, ctxt: Any, publisher_id: Any, event_type: Any,
                 payload: Any, metadata: Any,
                 priority: str = 'info') -> 'Message':
        metadata = metadata if isinstance(metadata, Mapping) else {}
        ctxt = ctxt if isinstance(ctxt, Mapping) else {}
        return cls(str(event_type), str(publisher_id), payload,
                   str(metadata.get('message_id') or ''),
                   as_str(metadata.get('timestamp')), priority,
                   {k: ctxt.get(k) for k in _CONTEXT_KEPT if ctxt.get(k)})

    @property
    def key(self) -> str:
        """Its message id, or a digest of what is kept of it when it has
        none (the same for the message and its parked copy)."""
        if self.message_id:
            return self.message_id
        text = json.dumps(self.record(), sort_keys=True, default=str)
        return 'sha1:' + hashlib.sha1(text.encode()).hexdigest()

    def record(self) -> Dict[str, Any]:
        """What is kept: a payload that is not a versioned object (a poison
        message, whatever it holds) is not."""
        payload = self.payload
        fields = (payload.get('nova_object.data')
                  if isinstance(payload, Mapping) else None)
        if neutron.kind_of(self.event_type):
            payload = neutron.kept(self.event_type, payload)
        elif not isinstance(fields, Mapping):
            payload = None
        elif isinstance(fields.get('metadata'), Mapping):
            payload = dict(payload)
            payload['nova_object.data'] = dict(
                fields, metadata=redact.mask_mapping(fields['metadata']))
        return {'event_type': self.event_type,
                'publisher_id': self.publisher_id, 'payload': payload,
                'message_id': self.message_id, 'timestamp': self.timestamp,
                'priority': self.priority, 'context': dict(self.context)}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> 'Message':
        return cls(str(record['event_type']), str(record['publisher_id']),
                   record['payload'], str(record.get('message_id') or ''),
                   record.get('timestamp'),
                   str(record.get('priority') or 'info'),
                   dict(record.get('context') or {}))

    @property
    def metadata(self) -> Dict[str, Any]:
        """oslo.messaging's metadata, its id the key (a redelivered copy
        of a message without id is then a duplicate too)."""
        return {'message_id': self.key, 'timestamp': self.timestamp}


#: What is kept of a notification's request context.
_CONTEXT_KEPT = ('request_id', 'project_id', 'user_id')

#: Outcomes of one attempt at a message.
OK, ERROR, BAD_INPUT = Outcome.OK, Outcome.ERROR, Outcome.BAD_INPUT


def _filter(event_types: Sequence[str]) -> Any:
    import oslo_messaging
    return oslo_messaging.NotificationFilter(event_type='^(%s)$' % '|'.join(
        t.replace('.', r'\.') for t in event_types))


class ServerEndpoint:
    """What one oslo.messaging listener is given: ``endpoint``'s methods
    for ``priorities``, filtered to ``event_types``, one message at a time
    or (``batched``) a batch at a time.

    A batch is handled by :meth:`NotificationEndpoint.process_batch`.
    """

    def __init__(self, endpoint: 'NotificationEndpoint',
                 event_types: Sequence[str],
                 priorities: Sequence[str] = ('info', 'error'),
                 batched: bool = False) -> None:
        self.filter_rule = _filter(event_types)
        self._endpoint = endpoint
        for priority in priorities:
            setattr(self, priority, (
                self._batch(priority) if batched
                else getattr(endpoint, priority)))

    def _batch(self, priority: str) -> Any:
        endpoint = self._endpoint

        def handle(messages: Sequence[Mapping[str, Any]]) -> Any:
            return endpoint.process_batch([Message.received(
                item.get('ctxt'), item.get('publisher_id'),
                item.get('event_type'), item.get('payload'),
                item.get('metadata'), priority) for item in messages])
        return handle


class NotificationEndpoint:
    """Handles notifications (priorities ``INFO`` and ``ERROR``): Nova's,
    and Neutron's with ``[listen] neutron``; oslo.messaging's listeners get
    it through a :class:`ServerEndpoint`."""

    def __init__(self, conf: cfg.ConfigOpts, failed: Journal,
                 guard: Optional[Guard] = None,
                 retry: Optional[Journal] = None) -> None:
        import oslo_messaging
        self._handled = oslo_messaging.NotificationResult.HANDLED
        self._requeue = oslo_messaging.NotificationResult.REQUEUE
        #: Neutron's floating IPs are merged into Nova's network info.
        self.neutron = bool(conf.listen.neutron)
        self.max_attempts = conf.listen.max_attempts
        self.retry_delay = conf.listen.retry_delay
        self.failed = failed
        self.guard = guard or guard_for(conf)
        self.retry = retry or Journal(os.path.join(
            os.path.dirname(failed.path), 'listen-retry.jsonl'))
        self.stats = Stats()
        #: How far behind the bus it is.
        self.lag = lag.LagMeter()
        self._lock = threading.Lock()
        #: Messages being handled now.
        self.in_flight = 0
        self._batches = BatchDispatch(self)
        #: Instances with a parked notification (their later ones wait).
        self._parked: Set[str] = {
            str(r['instance']) for r in self.retry.records()
            if r.get('instance')}

    def info(self, ctxt: Any, publisher_id: str, event_type: str,
             payload: Any, metadata: Mapping[str, Any]) -> Any:
        return self._receive(Message.received(
            ctxt, publisher_id, event_type, payload, metadata))

    def error(self, ctxt: Any, publisher_id: str, event_type: str,
              payload: Any, metadata: Mapping[str, Any]) -> Any:
        """``*.error`` notifications (priority ERROR; without a consumer
        the error queue Nova's notifier declares only grows)."""
        return self._receive(Message.received(
            ctxt, publisher_id, event_type, payload, metadata, 'error'))

    def _receive(self, message: Message) -> Any:
        with self._lock:
            self.in_flight += 1
        token = self.lag.started(lag.sent_at(message.timestamp))
        try:
            return self.process(message)
        finally:
            self.lag.finished(token)
            with self._lock:
                self.in_flight -= 1

    def process_batch(self, messages: Sequence[Message]) -> Any:
        """Handle a batch as one unit of work (:mod:`.batch`): ``HANDLED``,
        or ``REQUEUE`` when a message can be neither handled nor kept
        (oslo.messaging then redelivers the whole batch; the order guard
        skips those already applied). Each message has its own outcome,
        as alone: a failing one is parked or recorded as failed, and its
        batch-mates are neither redone nor requeued."""
        with self._lock:
            self.in_flight += len(messages)
        tokens = [self.lag.started(lag.sent_at(m.timestamp))
                  for m in messages]
        try:
            requeue = self._batches.process(messages)
        finally:
            for token in tokens:
                self.lag.finished(token)
            with self._lock:
                self.in_flight -= len(messages)
        self.stats.add('batches')
        return self._requeue if requeue else self._handled

    def process(self, message: Message) -> Any:
        """Handle a message as it arrives: ``HANDLED``, or ``REQUEUE`` only
        when it can be neither handled nor kept.

        A notification of an instance that has one parked waits behind it
        (parked too, not tried): an instance's notifications take effect
        in their order, so a transient state (an interface attached, then
        detached) is not skipped as stale when the retry comes late."""
        uuid = _instance_of(message)
        if uuid and self.max_attempts > 1 and self._is_parked(uuid):
            return self._keep(message, 0, 'behind a parked notification of '
                              'the same instance')
        outcome, reason = self.attempt(message)
        if outcome == ERROR and self.max_attempts > 1:
            return self._keep(message, 1, reason)
        if outcome != OK:
            self._fail(message, outcome, reason, 1)
        return self._handled

    def _keep(self, message: Message, attempts: int, reason: str) -> Any:
        """Park ``message``: ``HANDLED``, or ``REQUEUE`` when it cannot be
        kept."""
        try:
            self._park(message, attempts, reason)
        except Exception:
            LOG.exception('novahooks listen: cannot keep %s %s for a retry; '
                          'the broker gets it back', message.event_type,
                          message.key)
            return self._requeue
        return self._handled

    def attempt(self, message: Message) -> Tuple[str, str]:
        """One attempt: ``(ok|error|bad_input, why)``; never raises."""
        fact = None
        note = None
        try:
            if neutron.kind_of(message.event_type):
                fact = neutron.read(message.event_type, message.payload)
            else:
                note = mapping.read(message.event_type, message.payload,
                                    message.context, message.metadata)
        except BadInput as exc:
            return BAD_INPUT, str(exc)
        except Exception as exc:  # a bug of ours: never block the queue
            LOG.exception('novahooks listen: cannot map %s %s',
                          message.event_type, message.key)
            return BAD_INPUT, type(exc).__name__
        if note is None and fact is None:
            return OK, 'not mapped'
        try:
            if fact is not None:
                failing, bad = self._apply_fact(fact, message)
            else:
                assert note is not None
                failing, bad = self._apply(note, message)
        except Exception as exc:
            return ERROR, 'order guard: %s' % redact.scrub(
                '%s: %s' % (type(exc).__name__, exc))
        if bad:
            return BAD_INPUT, ', '.join(bad)
        if failing:
            return ERROR, ', '.join(failing)
        self.stats.add('handled')
        self.stats.add(message.event_type)
        return OK, ''

    def _apply(self, note: mapping.Notification, message: Message
               ) -> Tuple[List[str], List[str]]:
        """Run each plugin's handlers the guard lets through; advance the
        marks of those that succeeded. Returns the failing and the bad
        input handler names."""
        failing: List[str] = []
        bad: List[str] = []
        with self.guard.instance(note.instance_uuid) as held:
            if self.neutron and not note.deletes and note.instance:
                note = note.with_network(held.with_floating(note.instance))
                held.keep_snapshot(note, message.record())
            by_plugin = handlers_by_plugin(note.events)
            applied: List[str] = []
            for plugin, pairs in by_plugin.items():
                seen = held.verdict(plugin, note)
                if seen is not Verdict.RUN:
                    self.stats.add(seen.value)
                    LOG.debug('novahooks listen: %s %s is %s for %s '
                              '(instance %s)', note.event_type,
                              note.message_id, seen.value, plugin,
                              note.instance_uuid)
                    continue
                outcomes = []
                for event, handler in pairs:
                    outcome = _handle(handler, event)
                    outcomes.append(outcome)
                    if outcome in (ERROR, BAD_INPUT):
                        (bad if outcome == BAD_INPUT else failing).append(
                            '%s:%s:%s' % (plugin, event.hook.value,
                                          event.phase.value))
                if not set(outcomes) & {ERROR, BAD_INPUT}:
                    applied.append(plugin)
            held.applied(applied, note)
            if note.deletes and not failing and not bad:
                held.tombstone()
        return failing, bad

    def _apply_fact(self, fact: neutron.Fact, message: Message
                    ) -> Tuple[List[str], List[str]]:
        """Keep a floating IP's or port's fact (when the order allows), then
        deliver the network info of each instance it concerns, the one it
        left included. Returns the failing and bad input handler names."""
        with self.guard.fact(fact.kind, fact.id) as kept:
            seen = neutron.verdict(kept.known, fact)
            if seen is Verdict.RUN:
                kept.keep(fact, kept.refresh + neutron.instances_of(
                    kept.known, fact))
            elif seen is not Verdict.DUPLICATE:
                self.stats.add(seen.value)
                return [], []
            refresh = kept.refresh
        failing: List[str] = []
        bad: List[str] = []
        done = []
        for uuid in refresh:
            fails, bads = self._refresh(uuid, message)
            failing += fails
            bad += bads
            if not fails and not bads:
                done.append(uuid)
        if done:
            self.guard.refreshed(fact.kind, fact.id, done)
        return failing, bad

    def _refresh(self, uuid: str, message: Message
                 ) -> Tuple[List[str], List[str]]:
        """Deliver an instance's network info as known now (its newest Nova
        notification, with the floating IPs kept) to ``instance_network_info``
        post handlers. An instance Nova has not told of yet waits for it
        (its notification then gets them); a deleted one gets nothing."""
        failing: List[str] = []
        bad: List[str] = []
        with self.guard.instance(uuid) as held:
            if held.deleted:
                self.stats.add(Verdict.DELETED.value)
                return [], []
            record = held.snapshot()
            if record is None:
                self.stats.add('pending')
                LOG.info('novahooks listen: %s %s concerns instance %s, '
                         'which Nova has not notified yet: applied when it '
                         'does', message.event_type, message.key, uuid)
                return [], []
            kept = Message.from_record(record)
            note = mapping.read(kept.event_type, kept.payload, kept.context,
                                kept.metadata)
            if note is None or note.instance is None:
                return [], []
            found = dataclasses.replace(note.instance, network_info=(
                held.with_floating(note.instance)))
            event: HookEvent = NotifiedEvent(
                HookPoint.INSTANCE_NETWORK_INFO, Phase.POST, found,
                request=note.request, nova_releases=mapping.RELEASES)
            for plugin, pairs in handlers_by_plugin((event,)).items():
                mark = held.marks.get(plugin)
                if mark is not None and mark.deleted_at is not None:
                    continue
                for event, handler in pairs:
                    outcome = _handle(handler, event)
                    if outcome in (ERROR, BAD_INPUT):
                        (bad if outcome == BAD_INPUT else failing).append(
                            '%s:%s:%s' % (plugin, event.hook.value,
                                          event.phase.value))
        return failing, bad

    # -- parked messages -------------------------------------------------

    def _is_parked(self, uuid: str) -> bool:
        with self._lock:
            return uuid in self._parked

    def _park(self, message: Message, attempts: int, reason: str) -> None:
        """Keep ``message`` to retry it (``attempts`` 0: not tried yet, it
        waits behind its instance's parked one)."""
        self._park_all([(message, attempts, reason)], raises=True)

    def _park_all(self, parks: Sequence[Tuple[Message, int, str]],
                  raises: bool = False) -> bool:
        """Keep these messages to retry them, in order, with one write:
        whether that failed (then logged, or raised with ``raises``)."""
        if not parks:
            return False
        at = time.time()
        records = [{
            'key': message.key, 'attempts': attempts, 'reason': reason[:500],
            'due': at + self.retry_delay * attempts,
            'instance': _instance_of(message), 'message': message.record()}
            for message, attempts, reason in parks]
        try:
            self.retry.append_lines([json.dumps(r, sort_keys=True)
                                     for r in records])
        except Exception:
            if raises:
                raise
            LOG.exception('novahooks listen: cannot keep %d message(s) for '
                          'a retry; the broker gets their batch back',
                          len(records))
            return True
        with self._lock:
            self._parked.update(r['instance'] for r in records
                                if r['instance'])
        for message, attempts, reason in parks:
            self._parked_said(message, attempts, reason)
        return False

    def _parked_said(self, message: Message, attempts: int,
                     reason: str) -> None:
        uuid = _instance_of(message)
        self.stats.add('parked')
        if not attempts:
            LOG.info('novahooks listen: %s %s of instance %s waits behind '
                     'its parked notification', message.event_type,
                     message.key, uuid)
            return
        LOG.warning('novahooks listen: %s %s failed in %s (attempt %d of '
                    '%d); retried in %.1f s', message.event_type,
                    message.key, reason[:500], attempts, self.max_attempts,
                    self.retry_delay * attempts)

    def retry_due(self) -> int:
        """Try the parked messages that are due again; returns how many
        are still parked."""
        if not self.retry.exists():
            with self._lock:
                self._parked = set()
            return 0
        with self.retry.locked():
            left: List[str] = []
            #: Instances whose earlier notification stays parked: their
            #: later ones wait (in order).
            waiting: Set[str] = set()
            for line in self.retry.lines():
                try:
                    record = json.loads(line)
                    message = Message.from_record(record['message'])
                    attempts = int(record['attempts'])
                    due = float(record['due'])
                    uuid = record.get('instance')
                except (ValueError, KeyError, TypeError):
                    LOG.warning('novahooks listen: an unreadable line in %s '
                                'dropped', self.retry.path)
                    continue
                if (uuid and uuid in waiting) or due > time.time():
                    left.append(line)
                    if uuid:
                        waiting.add(uuid)
                    continue
                outcome, reason = self.attempt(message)
                attempts += 1
                if outcome == ERROR and attempts < self.max_attempts:
                    record.update(attempts=attempts, reason=reason[:500],
                                  due=time.time()
                                  + self.retry_delay * attempts)
                    left.append(json.dumps(record, sort_keys=True))
                    if uuid:
                        waiting.add(uuid)
                    self.stats.add('parked')
                elif outcome != OK:
                    self._fail(message, outcome, reason, attempts)
            self.retry.rewrite(left)
            with self._lock:
                self._parked = waiting
            return len(left)

    # -- failed messages -------------------------------------------------

    def _fail(self, message: Message, outcome: str, reason: str,
              attempts: int) -> None:
        instance = None
        try:
            if neutron.kind_of(message.event_type):
                fact = neutron.read(message.event_type, message.payload)
                instance = fact.instance if fact is not None else None
            else:
                instance = as_str(mapping.data(
                    message.payload, 'payload').get('uuid'))
        except Exception:
            pass
        record = {
            'at': timeutils.utcnow().isoformat() + 'Z',
            'message_id': message.message_id or message.key,
            'event_type': message.event_type[:100],
            'publisher_id': message.publisher_id[:100],
            'instance': instance, 'outcome': outcome,
            'reason': reason[:500], 'attempts': attempts,
            'message': message.record()}
        self.failed.append(record)
        self.stats.add('failed')
        LOG.error('novahooks listen: %s %s (instance %s) recorded as failed '
                  'after %d attempt(s): %s: %s', message.event_type,
                  message.key, instance, attempts, outcome, reason[:500])

    def replay(self, ids: Sequence[str] = ()) -> List[Dict[str, Any]]:
        """Feed failed messages (all, or those of these message ids) through
        the handlers again; those that now succeed leave the journal.
        Returns one row per message tried."""
        done: List[Dict[str, Any]] = []
        with self.failed.locked():
            kept: List[str] = []
            for line in self.failed.lines():
                try:
                    record = json.loads(line)
                    message = Message.from_record(record['message'])
                except (ValueError, KeyError, TypeError):
                    kept.append(line)  # an old record, without the message
                    continue
                if ids and record.get('message_id') not in ids:
                    kept.append(line)
                    continue
                outcome, reason = self.attempt(message)
                done.append(dict(record, outcome=outcome, reason=reason))
                if outcome != OK:
                    record.update(outcome=outcome, reason=reason[:500],
                                  attempts=int(record.get('attempts', 0)) + 1)
                    kept.append(json.dumps(record, sort_keys=True))
            self.failed.rewrite(kept)
        return done


def _instance_of(message: Message) -> Optional[str]:
    """The instance a Nova notification is about (None for Neutron's: their
    order is per floating IP and port, and their deliveries are whole
    states)."""
    if neutron.kind_of(message.event_type):
        return None
    payload = message.payload
    fields = (payload.get('nova_object.data')
              if isinstance(payload, Mapping) else None)
    return as_str(fields.get('uuid')) if isinstance(fields, Mapping) \
        else None


def _handle(handler: Any, event: HookEvent) -> Outcome:
    """``handler.handle(event)``; outside the current unit of work unless
    its plugin opted into batches."""
    if getattr(handler, 'batches', False) or db.current_unit() is None:
        return Outcome(handler.handle(event))
    with db.using(None):
        return Outcome(handler.handle(event))


def configured() -> cfg.ConfigOpts:
    """The configuration with the ``[listen]`` options registered."""
    return config.register_plugin_opts('listen', OPTS)


def guard_for(conf: cfg.ConfigOpts) -> Guard:
    """The order guard of the configuration's ``[listen] database_url``."""
    return Guard(db.engine('listen', conf.listen.database_url or None),
                 conf.listen.tombstone_days)


def failed_journal() -> Journal:
    """Where the messages given up on are recorded."""
    return Journal(os.path.join(config.state_dir(), 'listen-failed.jsonl'))


def bus_urls(group: Any) -> List[str]:
    """The buses Nova notifies on that the listener consumes: each of
    ``[listen] transport_urls`` once, in order, or else ``transport_url``."""
    urls: List[str] = []
    for url in group.transport_urls or ():
        url = url.strip()
        if url and url not in urls:
            urls.append(url)
    return urls or [group.transport_url]


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

    def status(self) -> Dict[str, Any]:
        return {'url': self.shown, 'consuming': self.consuming.is_set(),
                'received': self.received}

    def close(self, servers: Sequence[Any]) -> None:
        """Wait for ``servers`` (stopped) to finish, then clean up."""
        for server in servers:
            server.wait()
        self.transport.cleanup()


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
            from novahooks_core import metrics
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

        from novahooks_core.metrics import Gauge, gauge_families
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
               for bus in self.buses])

    def status(self) -> Dict[str, Any]:
        """What ``novahooks listen status`` shows of this listener."""
        now = self.endpoint.lag.lag()
        return {'pid': os.getpid(), 'pool': self.pool,
                'neutron': self.endpoint.neutron,
                'started_at': self._started_at,
                'updated_at': timeutils.utcnow().isoformat() + 'Z',
                'lag_seconds': now.age, 'rate_per_second': now.rate,
                'in_flight': now.in_flight,
                'behind': now.behind(self.behind_seconds),
                'behind_seconds': self.behind_seconds,
                'counts': self.stats.snapshot(),
                'buses': [bus.status() for bus in self.buses]}

    def report(self, force: bool = False) -> None:
        """Write the status file every :data:`lag.STATUS_SECONDS`; log the
        lag at INFO every minute while behind."""
        now = time.monotonic()
        if force or now - self._reported_at >= lag.STATUS_SECONDS:
            self._reported_at = now
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
        try:
            os.unlink(self.status_path)
        except OSError:
            pass
        LOG.info('novahooks listen: stopped; %s', self.stats.snapshot())

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


def check_transport(conf: cfg.ConfigOpts, timeout: float = 3.0
                    ) -> List[Any]:
    """``novahooks check`` of ``[listen]``: each bus (each of
    ``transport_urls``, or ``transport_url``; and Neutron's, when it has
    its own) answers and takes the credentials: one result each, the URL's
    password masked."""
    import oslo_messaging

    from novahooks_core.plugin import CheckResult
    group = conf.listen
    nova = bus_urls(group)
    urls = [('transport' if len(nova) == 1 else 'transport %d' % number,
             url) for number, url in enumerate(nova, 1)]
    if group.neutron and group.neutron_transport_url and (
            group.neutron_transport_url not in nova):
        urls.append(('neutron transport', group.neutron_transport_url))
    results = []
    for what, url in urls:
        shown = redact.mask_url(url)
        try:
            parsed = oslo_messaging.TransportURL.parse(conf, url)
        except Exception as exc:
            results.append(CheckResult('listen', what, False, '%s: %s' % (
                shown, redact.scrub(str(exc), [url]))))
            continue
        if parsed.transport != 'rabbit':
            results.append(CheckResult('listen', what, True, '%s (%s: not '
                                       'checked)' % (shown,
                                                     parsed.transport)))
            continue
        results.append(_check_rabbit(what, shown, parsed, timeout))
    return results


def _check_rabbit(what: str, shown: str, parsed: Any, timeout: float) -> Any:
    """An AMQP login to the first of ``parsed``'s hosts that answers."""
    from kombu import connection as kombu_connection

    from novahooks_core.plugin import CheckResult
    connection_class: Any = kombu_connection.Connection  # kombu is untyped
    errors = []
    for host in parsed.hosts or []:
        connection = connection_class(
            hostname=host.hostname or '127.0.0.1', port=host.port or 5672,
            userid=host.username or 'guest',
            password=host.password or 'guest',
            virtual_host=parsed.virtual_host or '/',
            connect_timeout=timeout)
        try:
            connection.connect()
            return CheckResult('listen', what, True, '%s: %s:%s answers' % (
                shown, host.hostname, host.port or 5672))
        except Exception as exc:
            errors.append('%s:%s: %s' % (host.hostname, host.port or 5672,
                                         redact.scrub('%s: %s' % (
                                             type(exc).__name__, exc),
                                             [host.password or ''])))
        finally:
            with contextlib.suppress(Exception):
                connection.release()
    return CheckResult('listen', what, False, '%s: %s' % (
        shown, '; '.join(errors) or 'no host'))


def list_opts() -> List[Any]:
    """``[listen]`` options, for ``oslo-config-generator``."""
    return [('listen', list(OPTS))]


__all__ = ['Listener', 'NotificationEndpoint', 'OPTS', 'ServerEndpoint',
           'Stats', 'failed_journal', 'list_opts']
