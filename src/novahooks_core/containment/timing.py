"""Per-hook counters and durations, readable in-process.

Every handler call is timed (``time.perf_counter``: nothing allocated per
call) and counted under a name (``plugin:hook:phase`` for hooks, anything
for :func:`timed`). Calls slower than ``[DEFAULT] slow_hook_threshold_ms``
are logged as WARNING.
"""

import bisect
import dataclasses
import functools
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar

from oslo_log import log as logging

from novahooks_core import config
from novahooks_core.models import Outcome

LOG = logging.getLogger(__name__)

F = TypeVar('F', bound=Callable[..., Any])


#: Upper bounds (seconds) of the duration buckets of every name.
BUCKETS: Tuple[float, ...] = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                              0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclasses.dataclass
class CallStats:
    """What happened under one name since the process started."""

    calls: int = 0
    errors: int = 0
    bad_input: int = 0
    vetoes: int = 0
    #: Calls skipped as unchanged (not timed; see NovaHook.skips_unchanged).
    unchanged: int = 0
    slow: int = 0
    total_seconds: float = 0.0
    max_seconds: float = 0.0
    #: Timed calls per duration bucket (:data:`BUCKETS`, then above).
    buckets: List[int] = dataclasses.field(
        default_factory=lambda: [0] * (len(BUCKETS) + 1))

    @property
    def mean_seconds(self) -> float:
        return self.total_seconds / self.calls if self.calls else 0.0


@dataclasses.dataclass(frozen=True)
class CallRecord:
    """One timed call, as given to listeners."""

    name: str
    outcome: Outcome
    seconds: float
    summary: Optional[str] = None
    instance_uuid: Optional[str] = None


Listener = Callable[[CallRecord], None]

#: Read on every unchanged heal (a global is faster than a member).
_UNCHANGED = Outcome.UNCHANGED
_OK, _ERROR = Outcome.OK, Outcome.ERROR

_COUNTERS = {Outcome.ERROR: 'errors', Outcome.BAD_INPUT: 'bad_input',
             Outcome.VETO: 'vetoes', Outcome.UNCHANGED: 'unchanged'}

_lock = threading.Lock()
_stats: Dict[str, CallStats] = {}
_listeners: List[Listener] = []


def safe_call(read: Callable[[], Optional[str]]) -> Optional[str]:
    """``read()``, or ``None`` if it raises (for log-line decorations)."""
    try:
        return read()
    except Exception:
        return None


def record(name: str, outcome: Outcome, seconds: float,
           summary: Optional[str] = None,
           instance_uuid: Callable[[], Optional[str]] = lambda: None
           ) -> None:
    """Count one call (``outcome``: ok, error, bad_input or veto).

    ``instance_uuid`` is called only for a log line or a listener. Never
    raises: a failing listener is logged and the others still called.
    """
    try:
        slow_after = config.slow_seconds()
    except Exception:
        slow_after = float('inf')
    with _lock:
        entry = _counted(name, outcome)
        entry.total_seconds += seconds
        entry.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
        if seconds > entry.max_seconds:
            entry.max_seconds = seconds
        slow = seconds > slow_after
        if slow:
            entry.slow += 1
    if slow:
        uuid = safe_call(instance_uuid)
        LOG.warning('novahooks: %s took %.1f ms (threshold %.1f ms)%s', name,
                    seconds * 1000.0, slow_after * 1000.0,
                    ' for instance %s' % uuid if uuid else '')
    if _listeners:
        _tell(CallRecord(name, outcome, seconds, summary,
                         safe_call(instance_uuid)))
    if time.monotonic() >= _metrics_at:
        _metrics_due()


#: When the metrics textfile is next looked at (:func:`_metrics_due`).
_metrics_at = 0.0

#: What writes the process's metrics textfile (:mod:`.metrics` registers
#: its writer when imported: this module imports no exporter).
_textfile_writers: List[Callable[[], None]] = []


def register_textfile_writer(writer: Callable[[], None]) -> None:
    """Have ``writer`` called when the metrics textfile is due."""
    if writer not in _textfile_writers:
        _textfile_writers.append(writer)


def _metrics_due() -> None:
    """Write this process's metrics textfile when ``[DEFAULT] metrics_dir``
    is set; look again in ``metrics_interval_seconds`` (a minute when
    unset)."""
    global _metrics_at
    try:
        conf = config.get()
        if conf.metrics_dir:
            for writer in list(_textfile_writers):
                writer()
            wait = float(conf.metrics_interval_seconds)
        else:
            wait = 60.0
    except Exception:
        wait = 60.0
    _metrics_at = time.monotonic() + wait


def _tell(call: CallRecord) -> None:
    """Give ``call`` to every listener; a failing one is logged."""
    for listener in list(_listeners):
        try:
            listener(call)
        except Exception:
            LOG.exception('novahooks: timing listener %r failed', listener)


def skipped(name: str, summary: str,
            instance_uuid: Callable[[], Optional[str]] = lambda: None
            ) -> None:
    """Count a call its handler skipped before doing anything (an
    unchanged heal): under ``unchanged``, not timed. Listeners (the
    testing kit, ``simulate``) get it as an ``ok`` call of no duration
    with ``summary``."""
    with _lock:
        _counted(name, _UNCHANGED)
    if _listeners:
        _tell(CallRecord(name, Outcome.OK, 0.0, summary,
                         safe_call(instance_uuid)))


def count(name: str, outcome: Outcome = Outcome.OK) -> None:
    """Count one event under ``name`` that is not a timed call (work
    spooled, a broken handler skipped): no duration, no listeners."""
    with _lock:
        _counted(name, outcome)


def _counted(name: str, outcome: Outcome) -> CallStats:
    """``name``'s entry with one more call of ``outcome`` (the caller
    holds ``_lock``)."""
    entry = _stats.get(name)
    if entry is None:
        entry = _stats[name] = CallStats()
    entry.calls += 1
    counter = _COUNTERS.get(outcome)
    if counter:
        setattr(entry, counter, getattr(entry, counter) + 1)
    return entry


def snapshot() -> Dict[str, CallStats]:
    """A copy of every counter, by name."""
    with _lock:
        return {name: dataclasses.replace(s, buckets=list(s.buckets))
                for name, s in _stats.items()}


def reset() -> None:
    """Zero every counter (and look at the metrics textfile again)."""
    global _metrics_at
    with _lock:
        _stats.clear()
    _metrics_at = 0.0


def has_listeners() -> bool:
    """Whether anyone reads call records (then summaries are kept)."""
    return bool(_listeners)


def add_listener(listener: Listener) -> None:
    """Call ``listener`` with a :class:`CallRecord` after every call."""
    _listeners.append(listener)


def remove_listener(listener: Listener) -> None:
    """Stop calling ``listener``."""
    if listener in _listeners:
        _listeners.remove(listener)


def timed(name: str) -> Callable[[F], F]:
    """Decorator: time and count every call of a function under ``name``.

    Exceptions are counted as errors and re-raised; combine with
    :func:`novahooks_core.containment.isolation.isolated` to also contain them.
    """
    def decorator(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            outcome = _ERROR
            try:
                result = func(*args, **kwargs)
                outcome = _OK
                return result
            finally:
                record(name, outcome, time.perf_counter() - started)
        return wrapper  # type: ignore[return-value]
    return decorator
