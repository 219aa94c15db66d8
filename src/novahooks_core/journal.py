"""An append-only JSON-lines file that threads and processes share.

Each record is one line, written under an exclusive file lock and
fsync'd before :meth:`Journal.append` returns, so a record survives a
crash the moment it is kept (the storage plugin's spool, the listener's
failed notifications).
"""

import contextlib
import fcntl
import json
import os
import threading
from typing import Any, Callable, Dict, Iterator, List

Record = Dict[str, Any]


class Journal:
    """The JSON-lines file at ``path`` (``path.lock`` beside it)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive use, across threads and processes."""
        with self._lock, open(self.path + '.lock', 'a') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def append(self, record: Record) -> None:
        with self.locked(), open(self.path, 'a') as stream:
            stream.write(json.dumps(record, sort_keys=True) + '\n')
            stream.flush()
            os.fsync(stream.fileno())

    def records(self) -> List[Record]:
        """Every record, oldest first (no lock: lines are whole)."""
        try:
            with open(self.path) as stream:
                return [json.loads(line) for line in stream if line.strip()]
        except FileNotFoundError:
            return []

    def drain(self, apply: Callable[[List[Record]], None]) -> int:
        """``apply`` every record at once, then empty the journal; if
        ``apply`` raises, the records are kept. Returns how many."""
        if not os.path.exists(self.path):
            return 0
        with self.locked():
            found = self.records()
            apply(found)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            return len(found)
