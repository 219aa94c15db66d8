"""Sends the outbox: one background thread per endpoint (each its own
queue: a slow or dead endpoint never delays another), a bounded number of
instances at once, each instance's events in order.

A round takes the endpoint's events that are due and first in their
instance's queue (:func:`state.heads`), claims them, POSTs them in
parallel and records each answer as :func:`delivery.judge` decides. An
instance's next event is due only once the one before was delivered or
dead-lettered.
"""

import concurrent.futures
import datetime
import json
import random
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Set

from oslo_log import log as logging
from oslo_utils import timeutils

from novahooks_core.containment import timing
from novahooks_core.models import Outcome
from novahooks_core.state import db
from novahooks_webhook import delivery, state
from novahooks_webhook.delivery import Answer, Client, Endpoint, Policy

LOG = logging.getLogger(__name__)

#: Events a round takes per concurrent delivery.
ROUND_PER_WORKER = 8


class Sender:
    """One per process and database: ``endpoints`` by name; ``before``
    runs before each round (the service replays its spool)."""

    def __init__(self, engine: Any, endpoints: Mapping[str, Endpoint],
                 policy: Policy, poll: float = 1.0,
                 before: Callable[[], Any] = lambda: None) -> None:
        self.engine = engine
        self.endpoints = dict(endpoints)
        self.policy = policy
        self.poll = poll
        self.before = before
        self.clients = {name: Client(found)
                        for name, found in self.endpoints.items()}
        self._lock = threading.Lock()
        self._threads: Dict[str, threading.Thread] = {}
        self._pools: Dict[str, concurrent.futures.ThreadPoolExecutor] = {}
        self._wake = {name: threading.Event() for name in self.endpoints}
        self._stopped = threading.Event()
        #: Endpoints disabled by a 410 (read from the database once).
        self._disabled: Optional[Set[str]] = None

    def lease(self, endpoint: Endpoint) -> float:
        """How long a claim holds: a crashed sender's events are due again
        after this."""
        return endpoint.connect_timeout + endpoint.read_timeout + 30.0

    def disabled(self) -> Set[str]:
        if self._disabled is None:
            with db.connect(self.engine) as conn:
                self._disabled = set(state.disabled(conn))
        return self._disabled

    def ensure_worker(self) -> None:
        """Start the thread of every endpoint that has none, and wake
        them."""
        with self._lock:
            if self._stopped.is_set():
                return
            for name in self.endpoints:
                thread = self._threads.get(name)
                if thread is None or not thread.is_alive():
                    thread = self._threads[name] = threading.Thread(
                        target=self._run, args=(name,), daemon=True,
                        name='novahooks-webhook-%s' % name)
                    thread.start()
                self._wake[name].set()

    def stop(self) -> None:
        self._stopped.set()
        for event in self._wake.values():
            event.set()
        for pool in list(self._pools.values()):
            pool.shutdown(wait=False)

    def _run(self, name: str) -> None:
        wake = self._wake[name]
        while not self._stopped.is_set():
            wake.clear()
            sent = 0
            try:
                self.before()
                sent = self.round(name)
            except Exception:
                LOG.exception('novahooks webhook: a round of deliveries to '
                              '%s failed; retrying', name)
            if not sent:
                wake.wait(self.poll)

    def _pool(self, endpoint: Endpoint
              ) -> concurrent.futures.ThreadPoolExecutor:
        with self._lock:
            pool = self._pools.get(endpoint.name)
            if pool is None:
                pool = self._pools[endpoint.name] = \
                    concurrent.futures.ThreadPoolExecutor(
                        endpoint.concurrency,
                        thread_name_prefix='novahooks-webhook-%s'
                        % endpoint.name)
            return pool

    def round(self, name: str) -> int:
        """Deliver the endpoint's due events, one per instance, at most
        ``concurrency`` at once (up to :data:`ROUND_PER_WORKER` each per
        round, so a round's two transactions serve many events): how many
        were tried."""
        if name in self.disabled():
            return 0
        endpoint = self.endpoints[name]
        now = timeutils.utcnow()
        until = now + datetime.timedelta(seconds=self.lease(endpoint))
        with db.begin(self.engine) as conn:
            claimed = [row for row in state.heads(
                conn, name, now, endpoint.concurrency * ROUND_PER_WORKER)
                if state.claim(conn, row.id, row.next_at, until)]
        if not claimed:
            return 0
        client = self.clients[name]
        answers = list(self._pool(endpoint).map(
            lambda row: client.post(json.loads(row.body)), claimed))
        with db.begin(self.engine) as conn:
            state.delivered(conn, [
                row.id for row, answer in zip(claimed, answers)
                if not self._record(conn, endpoint, row, answer)])
        return len(claimed)

    def _record(self, conn: Any, endpoint: Endpoint, row: Any,
                answer: Answer) -> bool:
        """Record an answer but a 2xx (``False``: the caller marks the
        round's deliveries at once)."""
        now = timeutils.utcnow()
        verdict = delivery.judge(
            answer, row.attempts + 1,
            (now - row.created_at).total_seconds(), self.policy,
            random.random(), now.replace(tzinfo=datetime.timezone.utc))
        name = endpoint.name
        if verdict.outcome == delivery.DELIVERED:
            timing.count('webhook:%s:delivered' % name)
            return False
        if verdict.outcome == delivery.RETRY:
            state.retry(conn, row.id, now + datetime.timedelta(
                seconds=verdict.delay), verdict.reason)
            timing.count('webhook:%s:retried' % name, Outcome.ERROR)
            LOG.info('novahooks webhook: %s of instance %s to %s: %s; '
                     'retry in %.1fs', row.event_type, row.instance_uuid,
                     name, verdict.reason, verdict.delay)
        elif verdict.outcome == delivery.DEAD:
            state.dead(conn, row.id, verdict.reason)
            timing.count('webhook:%s:dead' % name, Outcome.ERROR)
            LOG.warning('novahooks webhook: %s %s of instance %s to %s '
                        'dead-lettered: %s ("novahooks webhook failed")',
                        row.event_type, row.event_id, row.instance_uuid,
                        name, verdict.reason)
        else:
            state.retry(conn, row.id, now, verdict.reason)
            state.disable(conn, name, verdict.reason)
            if name not in self.disabled():
                LOG.error('novahooks webhook: endpoint %s answered %s: it '
                          'is disabled; its events are kept', name,
                          verdict.reason)
            self.disabled().add(name)
        return True

    def flush(self, budget: float) -> bool:
        """Deliver what is due now on every endpoint, within ``budget``
        seconds (``novahooks simulate``, the CLI): whether nothing due was
        left."""
        deadline = time.monotonic() + budget
        names: List[str] = list(self.endpoints)
        while names and time.monotonic() < deadline:
            names = [name for name in names if self.round(name)]
        return not names
