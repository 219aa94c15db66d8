"""Sends the outbox to the backend: within a time budget while Nova
waits, then in a lazily started background worker with backoff.

Order is kept per zone: a zone whose oldest pending change is not yet due
(backing off after a failure) sends nothing newer either. Changes queued
for a zone that is no longer configured are held (a WARNING once per zone
and process; ``novahooks dns pending`` marks them) until an operator
discards them or configures the zone again: a typo in ``zone`` must not
silently drop queued deletes.
"""

import collections
import dataclasses
import datetime
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple
import uuid

from oslo_log import log as logging
from oslo_utils import timeutils
import sqlalchemy.exc

from novahooks_core.containment import redact
from novahooks_dns import state
from novahooks_dns.backends import BackendError, Change, DnsBackend

LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class FlushResult:
    sent: int = 0
    failed: int = 0
    errors: List[str] = dataclasses.field(default_factory=list)
    #: Nothing was left: every change that was pending got applied.
    done: bool = False
    #: Decisions still in the service's spool (its database is down).
    spooled: int = 0


@dataclasses.dataclass(frozen=True)
class SendPolicy:
    batch: int = 500
    timeout: float = 2.0
    retry_initial: float = 2.0
    retry_max: float = 300.0
    poll: float = 1.0


class Sender:
    """One per process and database."""

    def __init__(self, engine: Any, backend: DnsBackend,
                 policy: SendPolicy, zones: Sequence[str] = (),
                 before: Callable[[], int] = lambda: 0) -> None:
        self.engine = engine
        self.backend = backend
        self.policy = policy
        #: Configured zones; changes queued for any other zone (the
        #: configuration changed since) are held, not sent.
        self.zones = frozenset(zones)
        #: Run before each flush: the service replays its spool and says
        #: how many decisions are still in it.
        self.before = before
        self._lock = threading.Lock()
        self._worker: Optional[threading.Thread] = None
        self._stopped = threading.Event()
        #: Set to make the worker send now rather than at its next poll.
        self._wake = threading.Event()
        self._warned_zones: Set[str] = set()

    @property
    def lease_seconds(self) -> float:
        """How long a claim holds: a crashed sender's changes are free
        again after this."""
        return self.policy.timeout * 2 + 30

    def _batches(self, conn: Any, token: str
                 ) -> Tuple[Dict[str, List[Any]], bool]:
        """Due changes by zone, claimed for ``token``, and whether they are
        all that is pending. A zone whose oldest change is backing off or
        in another sender's hands sends nothing newer (order per zone)."""
        now = timeutils.utcnow()
        blocked = set()
        wanted: Dict[str, List[int]] = collections.OrderedDict()
        held: Dict[str, int] = collections.Counter()
        limit = self.policy.batch * 4
        query = state.outbox.select()
        if self.zones:
            query = query.where(state.outbox.c.zone.in_(sorted(self.zones)))
            held.update(state.held_by_zone(conn, sorted(self.zones)))
        rows = list(conn.execute(query.order_by(
            state.outbox.c.id).limit(limit)))
        complete = len(rows) < limit
        for row in rows:
            if row.zone in blocked:
                complete = False
                continue
            if row.next_attempt_at > now or (
                    row.claimed_until is not None
                    and row.claimed_until > now):
                blocked.add(row.zone)
                complete = False
                continue
            ids = wanted.setdefault(row.zone, [])
            if len(ids) < self.policy.batch:
                ids.append(row.id)
            else:
                complete = False
        for zone, count in held.items():
            if zone not in self._warned_zones:
                self._warned_zones.add(zone)
                LOG.warning('novahooks dns: %d pending change(s) for zone '
                            '%s, which is not configured, are held (see '
                            '"novahooks dns pending"; configure the zone '
                            'again, or "novahooks dns discard --zone %s")',
                            count, zone, zone)
        lease = now + datetime.timedelta(seconds=self.lease_seconds)
        batches: Dict[str, List[Any]] = collections.OrderedDict()
        for zone, ids in wanted.items():
            claimed = state.claim(conn, ids, token, lease, now)
            if [row.id for row in claimed] != ids[:len(claimed)]:
                # Another sender took older changes of this zone: leave
                # the zone to it rather than send out of order.
                state.release(conn, claimed, token)
                complete = False
                continue
            if len(claimed) < len(ids):
                complete = False
            if claimed:
                batches[zone] = claimed
        return batches, complete

    def flush(self, budget: Optional[float] = None,
              force: bool = False) -> FlushResult:
        """Send what is due until done, ``budget`` seconds are spent or
        the sender is stopped (its service was replaced); what it claimed
        and did not send is given back. ``force`` makes every pending
        change due now, ignoring backoff (an operator's flush). A zone
        another sender is sending stays in its hands until its claim's
        lease ends (half a minute after a crashed sender's last claim):
        two senders never send one zone out of order."""
        if force:
            with self.engine.begin() as conn:
                conn.execute(state.outbox.update().values(
                    next_attempt_at=timeutils.utcnow()))
        result = FlushResult()
        deadline = time.monotonic() + (budget if budget is not None
                                       else float('inf'))
        token = str(uuid.uuid4())
        result.spooled = self.before()
        while True:
            with self.engine.begin() as conn:
                batches, complete = self._batches(conn, token)
            if not batches:
                result.done = complete and not result.spooled
                return result
            progressed = False
            unsent = list(batches.values())
            for zone, rows in batches.items():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopped.is_set():
                    # What is left goes to the next flush now, not once
                    # this one's claim expires.
                    with self.engine.begin() as conn:
                        for left in unsent:
                            state.release(conn, left, token)
                    return result
                unsent.pop(0)
                changes = [Change(row.op, state.record_of(row))
                           for row in rows if row.op != state.FORGET]
                try:
                    if changes:
                        self.backend.apply(zone, changes,
                                           min(remaining, self.policy.timeout))
                except BackendError as exc:
                    result.failed += len(rows)
                    result.errors.append(str(exc))
                    LOG.warning('novahooks dns: %d change(s) to %s not '
                                'applied, will retry: %s', len(rows), zone,
                                exc)
                    with self.engine.begin() as conn:
                        state.postpone(conn, rows, token, str(exc),
                                       self.policy.retry_initial,
                                       self.policy.retry_max)
                    continue
                self._confirm(rows, token)
                result.sent += len(rows)
                progressed = True
            if complete and not result.failed:
                result.done = not result.spooled
                return result
            if not progressed:
                return result

    def _confirm(self, rows: List[Any], token: str) -> None:
        """Record what the server applied. Two senders confirming the same
        record at once collide on its key: the loser simply tries again."""
        for attempt in range(5):
            try:
                with self.engine.begin() as conn:
                    state.confirm(conn, rows, token)
                return
            except sqlalchemy.exc.DBAPIError:
                if attempt == 4:
                    raise
                time.sleep(0.01 * (attempt + 1))

    def has_pending(self) -> bool:
        """Whether changes for configured zones wait to be sent."""
        with self.engine.begin() as conn:
            counts = state.counts(conn, sorted(self.zones))
        return counts['pending'] > counts['held']

    def stop(self, wait: float = 0.0) -> None:
        """Stop the background worker (the service is replaced); what is
        pending stays in the outbox. ``wait``: seconds to wait for a send
        in progress to end (never from a hook: Nova would wait)."""
        self._stopped.set()
        self._wake.set()
        worker = self._worker
        if wait > 0 and worker is not None \
                and worker is not threading.current_thread():
            worker.join(wait)

    def ensure_worker(self, now: bool = False) -> None:
        """Start the background worker unless it runs; ``now``: it sends
        at once, not at its next poll (what is due: a change waiting for a
        retry still waits)."""
        with self._lock:
            if now:
                self._wake.set()
            if self._worker is not None or self._stopped.is_set():
                return
            self._worker = threading.Thread(
                target=self._work, name='novahooks-dns-sender', daemon=True)
            self._worker.start()

    def _work(self) -> None:
        failing_since: Optional[float] = None
        while True:
            self._wake.wait(self.policy.poll)
            self._wake.clear()
            if self._stopped.is_set():
                return
            try:
                result = self.flush()
                with self._lock:  # ensure_worker() sees either us or None
                    if not self.has_pending() and not result.spooled:
                        self._worker = None
                        return
                failing_since = None
            except Exception as exc:
                # Said once, then once a minute while it lasts.
                at = time.monotonic()
                if failing_since is None or at - failing_since >= 60:
                    failing_since = at
                    LOG.warning('novahooks dns: background sender cannot '
                                'work (%s); retrying every %.0f s',
                                redact.scrub('%s: %s' % (
                                    type(exc).__name__, exc)),
                                self.policy.poll)
