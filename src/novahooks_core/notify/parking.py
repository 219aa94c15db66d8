"""The listener's two journals (:class:`Parking`): messages parked to be
retried, and messages given up on.

- ``<state_dir>/listen-retry.jsonl`` (fsync'd): a message whose handler
  failed, or that waits behind its instance's parked one, is kept here
  and acknowledged; it is tried again after ``retry_delay`` seconds
  (times the attempt), in its instance's order, and recorded as failed
  after ``max_attempts``.
- ``<state_dir>/listen-failed.jsonl`` (:func:`failed_journal`): messages
  given up on, with the notification itself, so that ``novahooks listen
  failed --replay`` can feed them again (:meth:`Parking.replay`).

Trying a message is the endpoint's (an :data:`Attempt` given to
:meth:`Parking.retry_due` and :meth:`Parking.replay`): nothing here
imports it.
"""

import json
import os
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from oslo_log import log as logging
from oslo_utils import timeutils

from novahooks_core import config
from novahooks_core.models import Outcome
from novahooks_core.normalize import as_str
from novahooks_core.notify import mapping, neutron
from novahooks_core.notify.message import Family, Message, Stats, _instance_of
from novahooks_core.state.journal import Journal

LOG = logging.getLogger(__name__)

#: One attempt at a message: ``(ok|error|bad_input, why)``; never raises.
Attempt = Callable[[Message], Tuple[str, str]]

#: A message to park: the message, its attempts so far (0: not tried, it
#: waits behind its instance's parked one) and why.
Park = Tuple[Message, int, str]

OK, ERROR = Outcome.OK, Outcome.ERROR


def failed_journal() -> Journal:
    """Where the messages given up on are recorded."""
    return Journal(os.path.join(config.state_dir(), 'listen-failed.jsonl'))


class Parking:
    """The parked messages (``retry``, beside ``failed`` unless given) and
    the failed ones of one endpoint; counts in ``stats``."""

    def __init__(self, failed: Journal, stats: Stats, max_attempts: int,
                 retry_delay: float, retry: Optional[Journal] = None
                 ) -> None:
        self.failed = failed
        self.retry = retry or Journal(os.path.join(
            os.path.dirname(failed.path), 'listen-retry.jsonl'))
        self.stats = stats
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self._lock = threading.Lock()
        #: Instances with a parked notification (their later ones wait).
        self._parked: Set[str] = {
            str(r['instance']) for r in self.retry.records()
            if r.get('instance')}

    def is_parked(self, uuid: str) -> bool:
        with self._lock:
            return uuid in self._parked

    def keep(self, message: Message, attempts: int, reason: str) -> bool:
        """Park ``message``; whether it could be kept (else logged: the
        broker must have it back)."""
        try:
            self.park(message, attempts, reason)
        except Exception:
            LOG.exception('novahooks listen: cannot keep %s %s for a retry; '
                          'the broker gets it back', message.event_type,
                          message.key)
            return False
        return True

    def park(self, message: Message, attempts: int, reason: str) -> None:
        """Keep ``message`` to retry it (``attempts`` 0: not tried yet, it
        waits behind its instance's parked one)."""
        self.park_all([(message, attempts, reason)], raises=True)

    def park_all(self, parks: Sequence[Park], raises: bool = False) -> bool:
        """Keep these messages to retry them, in order, with one write:
        whether that failed (then logged, or raised with ``raises``)."""
        if not parks:
            return False
        at = time.time()
        records: List[Dict[str, Any]] = [{
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

    def retry_due(self, attempt: Attempt) -> int:
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
                outcome, reason = attempt(message)
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
                    self.fail(message, outcome, reason, attempts)
            self.retry.rewrite(left)
            with self._lock:
                self._parked = waiting
            return len(left)

    def fail(self, message: Message, outcome: str, reason: str,
             attempts: int) -> None:
        """Record ``message`` as failed (given up on)."""
        instance = None
        try:
            if message.family is Family.NEUTRON:
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

    def replay(self, attempt: Attempt, ids: Sequence[str] = ()
               ) -> List[Dict[str, Any]]:
        """Feed failed messages (all, or those of these message ids) to
        ``attempt`` again; those that now succeed leave the journal.
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
                outcome, reason = attempt(message)
                done.append(dict(record, outcome=outcome, reason=reason))
                if outcome != OK:
                    record.update(outcome=outcome, reason=reason[:500],
                                  attempts=int(record.get('attempts', 0)) + 1)
                    kept.append(json.dumps(record, sort_keys=True))
            self.failed.rewrite(kept)
        return done


__all__ = ['Attempt', 'Parking', 'failed_journal']
