"""Work a plugin's database cannot take now: kept durably, replayed in
order.

Every plugin that writes inside Nova writes through a :class:`Spool`:

- :meth:`Spool.write` applies an operation (plain JSON data) in its own
  transaction within a time budget, retrying only failures that waiting
  can cure (:func:`novahooks_core.state.db.is_transient`: unreachable, locked,
  timed out). Past the budget the operation is appended to the spool file
  (fsync'd, under a file lock) and the hook returns: Nova is never held
  longer, and nothing is lost.
- Before each write, and whenever the plugin asks (its background worker,
  its CLI), the spooled operations are replayed oldest first, each in its
  own transaction. A transient failure stops the replay and keeps the
  rest, so order is kept: a new write waits behind them (it is spooled
  too while they cannot be replayed).
- A line that cannot be read (torn by a crash) or an operation that fails
  for a reason waiting cannot cure is moved to ``<spool>.quarantine.jsonl``
  (counted, one WARNING naming that file) and never blocks the ones after
  it. A failure of a new write that waiting cannot cure is raised to the
  caller (the hook's guard logs and counts it): it is a bug, not a reason
  to keep the operation for ever.

Operations must be idempotent: a crash mid-replay replays the ones already
applied again.
"""

import json
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from oslo_log import log as logging

from novahooks_core import config
from novahooks_core.containment import redact, timing
from novahooks_core.models import Outcome
from novahooks_core.state import db
from novahooks_core.state.journal import Journal

LOG = logging.getLogger(__name__)

Op = Dict[str, Any]

#: Shortest lock wait given to one attempt, whatever is left of a budget.
MIN_WAIT = 0.05


class Pending(Exception):
    """Spooled operations are still waiting: a new one must wait too."""


def _parse(line: str) -> Optional[Op]:
    try:
        op = json.loads(line)
    except ValueError:
        return None
    return op if isinstance(op, dict) else None


def quarantine_path(path: str) -> str:
    """Where the operations of the spool at ``path`` that cannot be
    applied are moved."""
    base = path[:-len('.jsonl')] if path.endswith('.jsonl') else path
    return base + '.quarantine.jsonl'


#: How long a background replay waits for the database, per operation.
BACKGROUND_WAIT = 0.05


class Spool:
    """The spool of plugin ``name`` at ``path``, applying operations to
    ``engine`` with ``apply(connection, op)``; ``prepare()`` runs before
    every attempt (e.g. the plugin's schema check)."""

    def __init__(self, name: str, path: str, engine: Any,
                 apply: Callable[[Any, Op], Any],
                 prepare: Callable[[], None] = lambda: None) -> None:
        self.name = name
        self.engine = engine
        self.apply = apply
        self.prepare = prepare
        self.journal = Journal(path)
        self.quarantine = Journal(quarantine_path(path))
        #: Whether the database was said to be unavailable (since it last
        #: took a write).
        self.unavailable = False

    @property
    def path(self) -> str:
        return self.journal.path

    def write(self, op: Op, budget: float, attempts: int = 3
              ) -> Tuple[bool, Any]:
        """Apply ``op`` now, within ``budget`` seconds and ``attempts``
        tries: ``(True, what apply returned)``; or keep it in the spool:
        ``(False, None)``."""
        deadline = time.monotonic() + budget
        delay = 0.02
        last: Optional[BaseException] = None
        for attempt in range(max(1, attempts)):
            wait = max(MIN_WAIT, deadline - time.monotonic())
            try:
                self.prepare()
                if self.journal.exists() and self.replay(wait)[1]:
                    raise Pending('older operations are still spooled')
                with db.transaction(self.engine, wait) as conn:
                    done = self.apply(conn, op)
                self.unavailable = False
                return True, done
            except Exception as exc:
                if not (isinstance(exc, Pending) or db.is_transient(exc)):
                    raise
                last = exc
                if isinstance(exc, Pending) and db.current_unit() is not None:
                    break  # nothing replays the spool inside a unit
            if (attempt + 1 >= attempts
                    or deadline - time.monotonic() <= delay):
                break
            time.sleep(delay)
            delay *= 2
        self.journal.append(op)
        timing.count('%s:spooled' % self.name)
        # Said once an outage (the changes kept meanwhile are counted,
        # novahooks_hook_calls_total{handler="<plugin>:spooled"}); each
        # at DEBUG.
        log = LOG.debug if self.unavailable else LOG.warning
        self.unavailable = True
        log('novahooks %s: database unavailable (%s); %s of instance %s '
            'kept in %s for replay%s', self.name,
            redact.one_line(config.describe(last)) if last else 'unknown',
            op.get('op'), op.get('uuid'), self.path,
            '' if log is LOG.debug else
            ', and the changes after it until it is back')
        return False, None

    def replay(self, timeout: Optional[float] = None) -> Tuple[int, int]:
        """Apply the spooled operations, oldest first: ``(applied, still
        spooled)``. Never raises for a database failure.

        Not inside a unit of work (the listener's batch): the spool file
        would lose what was replayed before the unit commits, and the unit
        may not. The listener replays before each batch instead
        (:meth:`~novahooks_core.NovaHook.before_batch`)."""
        if not self.journal.exists():
            return 0, 0
        if db.current_unit() is not None:
            return 0, self.depth()
        with self.journal.locked():
            lines = self.journal.lines()
            applied, bad = 0, []
            left: List[str] = []
            for index, line in enumerate(lines):
                op = _parse(line)
                if op is None:
                    bad.append(line)
                    continue
                try:
                    self.prepare()
                    with db.transaction(self.engine, timeout) as conn:
                        self.apply(conn, op)
                    applied += 1
                except Exception as exc:
                    if db.is_transient(exc):
                        left = lines[index:]
                        break
                    LOG.error('novahooks %s: spooled %s of instance %s '
                              'cannot be applied: %s', self.name,
                              op.get('op'), op.get('uuid'),
                              redact.one_line(config.describe(exc)))
                    bad.append(line)
            if bad:
                self.quarantine.append_lines(bad)
                for _ in bad:
                    timing.count('%s:quarantined' % self.name,
                                 Outcome.ERROR)
                LOG.warning('novahooks %s: %d spooled operation(s) that '
                            'cannot be applied moved to %s', self.name,
                            len(bad), self.quarantine.path)
            if applied or bad or not lines:
                self.journal.rewrite(left)
                if applied:
                    LOG.info('novahooks %s: %d spooled operation(s) '
                             'replayed, %d left', self.name, applied,
                             len(left))
            return applied, len(left)

    def replay_in_background(self) -> int:
        """:meth:`replay` for a background thread (a plugin's sender):
        each wait for the database short (:data:`BACKGROUND_WAIT`), since
        it holds the spool's lock meanwhile and a hook inside Nova waits
        for that lock; how many are still spooled. ``prepare()`` (the
        schema check) first, as before every write."""
        self.prepare()
        if not self.journal.exists():
            return 0
        return self.replay(BACKGROUND_WAIT)[1]

    def depth(self) -> int:
        """Operations waiting in the spool."""
        return len(self.journal.lines())
