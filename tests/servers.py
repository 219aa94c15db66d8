"""The lifecycle the test servers share (BIND, PostgreSQL, RabbitMQ).

Each runs in the foreground under a tools/ script: ``script DIR PORT``
keeps its data in DIR and writes DIR/server.json once the server is up;
``script --stop DIR`` stops it. A subclass says where the script is, how
to see the server answer, and which logs to show when it does not.
"""

import json
import pathlib
import shutil
import signal
import socket
import subprocess
import time
from typing import Any, ClassVar, Dict, Optional, Tuple

ROOT = pathlib.Path(__file__).resolve().parents[1]
HOST = '127.0.0.1'


def free_tcp_port(*avoid: int) -> int:
    """A TCP port free on 127.0.0.1 (and none of ``avoid``: a script's
    default)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
        if port not in avoid:
            return port
    raise RuntimeError('no free port')


class ScriptServer:
    """A server run by ``script`` in ``directory`` on ``port``."""

    script: ClassVar[pathlib.Path]
    #: Globs (in the directory) of the logs :meth:`log_tail` shows.
    logs: ClassVar[Tuple[str, ...]] = ('script.log',)
    #: Seconds the script's --stop may take.
    stop_timeout: ClassVar[float] = 60.0

    def __init__(self, directory: pathlib.Path, port: int) -> None:
        self.directory = directory
        self.port = port
        self.host = HOST
        self.process: Optional[subprocess.Popen[bytes]] = None
        self.info: Dict[str, Any] = {}

    # -- what a subclass says ---------------------------------------------

    def answers(self) -> bool:
        """Whether the server serves (``self.info`` is loaded)."""
        raise NotImplementedError

    def environment(self) -> Optional[Dict[str, str]]:
        """The script's environment (None: this process's)."""
        return None

    # -- lifecycle --------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        """Start the server (again: same port, directory and data)."""
        if self.running():
            return
        info = self.directory / 'server.json'
        if info.exists():
            info.unlink()
        with open(self.directory / 'script.log', 'ab') as log:
            self.process = subprocess.Popen(
                ['bash', str(self.script), str(self.directory),
                 str(self.port)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env=self.environment())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError('%s exited with %s:\n%s' % (
                    self.script.name, self.process.returncode,
                    self.log_tail()))
            try:
                self.info = json.loads(info.read_text())
            except (OSError, ValueError):  # not written (whole) yet
                self.info = {}
            if self.info and self.answers():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError('%s: not ready within %s s:\n%s' % (
            self.script.name, timeout, self.log_tail()))

    def stop(self) -> None:
        """Stop the server (data kept); wait until it is gone."""
        process, self.process = self.process, None
        if process is None:
            return
        subprocess.run(['bash', str(self.script), '--stop',
                        str(self.directory)],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=self.stop_timeout,
                       check=False)
        for stop_signal in (None, signal.SIGTERM, signal.SIGKILL):
            if stop_signal is not None:
                process.send_signal(stop_signal)
            try:
                process.wait(timeout=30)
                return
            except subprocess.TimeoutExpired:
                continue

    def remove(self) -> None:
        """Stop, then delete the directory and its data."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self) -> str:
        text = ''
        for pattern in self.logs:
            for path in sorted(self.directory.glob(pattern)):
                text += '--- %s\n%s' % (
                    path.name, path.read_text(errors='replace')[-3000:])
        return text
