"""How far behind the bus a listener is, and its status file.

A listener knows the age of the oldest message it is handling (now minus
the envelope's timestamp, the publisher's clock: keep clocks in sync) and
how many messages it handled in the last minute. It is *behind* while that
age is above ``[listen] behind_seconds``: it then logs so at INFO every
minute. Every few seconds it writes ``<state_dir>/listen-status.<pid>.json``
(atomically), which ``novahooks listen status`` reads; the file goes when
the listener stops (however it stops, but for SIGKILL or a crash: such a
file is shown dead until :func:`prune_statuses` clears it).
"""

import collections
import dataclasses
import glob
import itertools
import json
import os
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional

from oslo_utils import timeutils

#: Seconds over which the handling rate is measured.
RATE_WINDOW = 60.0

#: How often the status file is written (a file older than three times
#: this is stale: its listener is hung or gone).
STATUS_SECONDS = 5.0

STATUS_GLOB = 'listen-status.*.json'


@dataclasses.dataclass(frozen=True)
class Lag:
    """A listener's lag at one moment."""

    #: Age of the oldest message being handled (0 when idle), seconds.
    age: float
    #: Messages handled per second over the last minute.
    rate: float
    in_flight: int

    def behind(self, threshold: float) -> bool:
        return self.age > threshold


def sent_at(timestamp: Optional[str]) -> Optional[float]:
    """The envelope's timestamp (oslo.messaging's, UTC) as epoch seconds."""
    if not timestamp:
        return None
    try:
        return timeutils.parse_isotime(timestamp).timestamp()
    except (ValueError, TypeError):
        return None


class LagMeter:
    """Messages in flight and handled (thread-safe)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = itertools.count()
        self._in_flight: Dict[int, float] = {}
        self._done: Deque[float] = collections.deque()

    def started(self, sent: Optional[float]) -> int:
        """A message is being handled (``sent``: its envelope's time)."""
        now = self._clock()
        with self._lock:
            token = next(self._tokens)
            self._in_flight[token] = min(sent, now) if sent else now
            return token

    def finished(self, token: int) -> None:
        now = self._clock()
        with self._lock:
            self._in_flight.pop(token, None)
            self._done.append(now)
            self._trim(now)

    def _trim(self, now: float) -> None:
        while self._done and self._done[0] < now - RATE_WINDOW:
            self._done.popleft()

    def lag(self) -> Lag:
        now = self._clock()
        with self._lock:
            self._trim(now)
            oldest = min(self._in_flight.values(), default=now)
            return Lag(round(now - oldest, 3),
                       round(len(self._done) / RATE_WINDOW, 3),
                       len(self._in_flight))


def status_path(directory: str, pid: Optional[int] = None) -> str:
    return os.path.join(directory, 'listen-status.%d.json'
                        % (os.getpid() if pid is None else pid))


def write_status(path: str, status: Dict[str, Any]) -> None:
    """Write ``status`` to ``path`` atomically."""
    tmp = '%s.tmp' % path
    with open(tmp, 'w') as stream:
        json.dump(status, stream, sort_keys=True)
    os.replace(tmp, path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_statuses(directory: str, now: Optional[float] = None
                  ) -> List[Dict[str, Any]]:
    """The status of each listener that wrote one in ``directory``, with
    ``running`` false when its process is gone or its file stale."""
    now = time.time() if now is None else now
    found = []
    for path in sorted(glob.glob(os.path.join(directory, STATUS_GLOB))):
        try:
            with open(path) as stream:
                status = json.load(stream)
            written = os.path.getmtime(path)
        except (OSError, ValueError):
            continue
        if not isinstance(status, dict):
            continue
        pid = int(status.get('pid') or 0)
        status['running'] = bool(pid) and _alive(pid) and (
            now - written <= 3 * STATUS_SECONDS)
        status['written_seconds_ago'] = round(now - written, 1)
        status['path'] = path
        found.append(status)
    return found


def prune_statuses(directory: str, now: Optional[float] = None
                   ) -> List[Dict[str, Any]]:
    """Remove the status files of the listeners that are not running
    (gone without stopping, or hung); what was removed."""
    gone = [status for status in read_statuses(directory, now)
            if not status['running']]
    for status in gone:
        try:
            os.unlink(status['path'])
        except FileNotFoundError:
            pass
    return gone


__all__ = ['Lag', 'LagMeter', 'RATE_WINDOW', 'STATUS_SECONDS',
           'prune_statuses', 'read_statuses', 'sent_at', 'status_path',
           'write_status']
