"""What oslo.messaging's listeners call: :class:`NotificationEndpoint`
handles one message at a time, under the order guard; its batches are
decided by :class:`~novahooks_core.notify.batch.BatchDispatch`, given the
endpoint explicitly (the two side by side). :class:`ServerEndpoint` is
what one oslo.messaging listener is given.

Each mapped notification (:mod:`.mapping`) runs the same handlers, guarded
the same way, as the hook dispatcher, under the order guard
(:mod:`.guard`). A handler that fails, or an order guard that cannot be
reached, parks the message (:mod:`.parking`); one that cannot be read, or
that a handler rejects as bad input, is recorded as failed at once.
"""

import dataclasses
import threading
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from oslo_config import cfg
from oslo_log import log as logging

from novahooks_core.containment import redact
from novahooks_core.hooks.event import HookEvent, NotifiedEvent
from novahooks_core.models import HookPoint, Outcome, Phase
from novahooks_core.normalize import BadInput
from novahooks_core.notify import lag, mapping, neutron
from novahooks_core.notify.batch import BatchDispatch, handlers_by_plugin
from novahooks_core.notify.facts import Verdict
from novahooks_core.notify.guard import Guard
from novahooks_core.notify.message import Family, Message, Stats, _instance_of
from novahooks_core.notify.parking import Park, Parking
from novahooks_core.state import db
from novahooks_core.state.journal import Journal

LOG = logging.getLogger(__name__)

#: Outcomes of one attempt at a message.
OK, ERROR, BAD_INPUT = Outcome.OK, Outcome.ERROR, Outcome.BAD_INPUT


def guard_for(conf: cfg.ConfigOpts) -> Guard:
    """The order guard of the configuration's ``[listen] database_url``."""
    return Guard(db.engine('listen', conf.listen.database_url or None),
                 conf.listen.tombstone_days)


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
    it through a :class:`ServerEndpoint`. Its parked and failed messages
    are its :class:`~novahooks_core.notify.parking.Parking`'s."""

    def __init__(self, conf: cfg.ConfigOpts, failed: Journal,
                 guard: Optional[Guard] = None,
                 retry: Optional[Journal] = None) -> None:
        import oslo_messaging
        self._handled = oslo_messaging.NotificationResult.HANDLED
        self._requeue = oslo_messaging.NotificationResult.REQUEUE
        #: Neutron's floating IPs are merged into Nova's network info.
        self.neutron = bool(conf.listen.neutron)
        self.guard = guard or guard_for(conf)
        self.stats = Stats()
        self.parking = Parking(failed, self.stats, conf.listen.max_attempts,
                               conf.listen.retry_delay, retry)
        #: How far behind the bus it is.
        self.lag = lag.LagMeter()
        self._lock = threading.Lock()
        #: Messages being handled now.
        self.in_flight = 0
        self._batches = BatchDispatch(self)

    # -- its parking's, as the batch and the listener read them -----------

    @property
    def failed(self) -> Journal:
        return self.parking.failed

    @property
    def retry(self) -> Journal:
        return self.parking.retry

    @property
    def max_attempts(self) -> int:
        return self.parking.max_attempts

    @max_attempts.setter
    def max_attempts(self, value: int) -> None:
        self.parking.max_attempts = value

    @property
    def retry_delay(self) -> float:
        return self.parking.retry_delay

    @retry_delay.setter
    def retry_delay(self, value: float) -> None:
        self.parking.retry_delay = value

    def _is_parked(self, uuid: str) -> bool:
        return self.parking.is_parked(uuid)

    def _park_all(self, parks: Sequence[Park], raises: bool = False) -> bool:
        return self.parking.park_all(parks, raises)

    def _fail(self, message: Message, outcome: str, reason: str,
              attempts: int) -> None:
        self.parking.fail(message, outcome, reason, attempts)

    def retry_due(self) -> int:
        """Try the parked messages that are due again; returns how many
        are still parked."""
        return self.parking.retry_due(self.attempt)

    def replay(self, ids: Sequence[str] = ()) -> List[Dict[str, Any]]:
        """Feed failed messages (all, or those of these message ids) through
        the handlers again; those that now succeed leave the journal.
        Returns one row per message tried."""
        return self.parking.replay(self.attempt, ids)

    # -- messages ----------------------------------------------------------

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
        if self.parking.keep(message, attempts, reason):
            return self._handled
        return self._requeue

    def attempt(self, message: Message) -> Tuple[str, str]:
        """One attempt: ``(ok|error|bad_input, why)``; never raises."""
        fact = None
        note = None
        try:
            if message.family is Family.NEUTRON:
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


def _handle(handler: Any, event: HookEvent) -> Outcome:
    """``handler.handle(event)``; outside the current unit of work unless
    its plugin opted into batches."""
    if getattr(handler, 'batches', False) or db.current_unit() is None:
        return Outcome(handler.handle(event))
    with db.using(None):
        return Outcome(handler.handle(event))


__all__ = ['NotificationEndpoint', 'ServerEndpoint', 'guard_for']
