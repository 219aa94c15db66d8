"""An append-only JSON-lines file that threads and processes share.

Each record is one line, written under an exclusive file lock and
fsync'd before :meth:`Journal.append` returns, so a record survives a
crash the moment it is kept (the plugins' spools, the listener's failed
notifications). A line torn by a crash mid-append is never glued to the
next record: an append first ends an unterminated last line.
"""

import contextlib
import fcntl
import json
import os
import threading
from typing import Any, Dict, Iterator, List

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
        self.append_lines([json.dumps(record, sort_keys=True)])

    def append_lines(self, lines: List[str]) -> None:
        """Append whole lines (without their newline), durably."""
        if not lines:
            return
        with self.locked(), open(self.path, 'a+b') as stream:
            stream.seek(0, os.SEEK_END)
            prefix = b''
            if stream.tell():
                stream.seek(-1, os.SEEK_END)
                if stream.read(1) != b'\n':
                    prefix = b'\n'  # end a line torn by a crash
            stream.write(prefix + ''.join(
                line + '\n' for line in lines).encode('utf-8'))
            stream.flush()
            os.fsync(stream.fileno())

    def lines(self) -> List[str]:
        """Every non-empty line as written, oldest first (a torn last
        line included)."""
        try:
            with open(self.path, 'rb') as stream:
                data = stream.read()
        except FileNotFoundError:
            return []
        return [line for line in data.decode('utf-8', 'replace').split('\n')
                if line.strip()]

    def records(self) -> List[Record]:
        """Every readable record, oldest first; lines that are not a JSON
        object (torn by a crash) are left out."""
        found = []
        for line in self.lines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                found.append(record)
        return found

    def rewrite(self, lines: List[str]) -> None:
        """Replace the whole journal with ``lines`` atomically (the caller
        holds :meth:`locked`); no lines: remove it."""
        if not lines:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            return
        temporary = self.path + '.new'
        with open(temporary, 'wb') as stream:
            stream.write(''.join(line + '\n' for line in lines).encode(
                'utf-8'))
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, self.path)

    def exists(self) -> bool:
        return os.path.exists(self.path)
