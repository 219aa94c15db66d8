"""The embedded default: a hosts-format file, rewritten atomically.

What dnsmasq's ``addn-hosts`` or CoreDNS's ``hosts`` plugin serve (they
answer reverse lookups from the same lines). Only A and AAAA records are
written (the plugin desires no PTR for it). An optional command (e.g.
``pkill -HUP dnsmasq``) runs after every rewrite.
"""

import fcntl
import os
import shlex
import subprocess
import tempfile
from typing import Dict, FrozenSet, List, Sequence, Set, Tuple

from oslo_config import cfg

from novahooks_core import config
from novahooks_core.plugin import CheckResult
from novahooks_dns.backends import BackendError, Change, DnsBackend
from novahooks_dns.records import Record

HEADER = '# Managed by novahooks dns: edits are overwritten.\n'


class HostsFileBackend(DnsBackend):
    """A/AAAA records as ``address name`` lines in one file."""

    record_types = frozenset(['A', 'AAAA'])

    options = [
        cfg.StrOpt('path', default='',
                   help='The hosts file to maintain (default: '
                        '<state_dir>/dns.hosts).'),
        cfg.StrOpt('reload_command', default='',
                   help='Command run after each rewrite, e.g. '
                        '"pkill -HUP dnsmasq". Empty: none.'),
    ]

    @property
    def path(self) -> str:
        return (self.conf.dns_hostsfile.path
                or os.path.join(config.state_dir(), 'dns.hosts'))

    def _read(self) -> Dict[Tuple[str, str], Set[str]]:
        """(name, address family) → addresses."""
        entries: Dict[Tuple[str, str], Set[str]] = {}
        try:
            with open(self.path) as stream:
                for line in stream:
                    parts = line.split('#', 1)[0].split()
                    if len(parts) >= 2:
                        rtype = 'AAAA' if ':' in parts[0] else 'A'
                        for name in parts[1:]:
                            entries.setdefault(
                                (name.rstrip('.') + '.', rtype),
                                set()).add(parts[0])
        except FileNotFoundError:
            pass
        return entries

    def apply(self, zone: str, changes: Sequence[Change],
              timeout: float) -> None:
        lock_path = self.path + '.lock'
        try:
            os.makedirs(os.path.dirname(self.path) or '.', exist_ok=True)
            with open(lock_path, 'a') as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                entries = self._read()
                for change in changes:
                    record = change.record
                    if record.rtype not in ('A', 'AAAA'):
                        continue
                    values = entries.setdefault(
                        (record.name, record.rtype), set())
                    if change.op == 'add':
                        values.add(record.value)
                    else:
                        values.discard(record.value)
                self._write(entries)
        except OSError as exc:
            raise BackendError('cannot write %s: %s'
                               % (self.path, exc.strerror)) from None
        self._reload(timeout)

    def _write(self, entries: Dict[Tuple[str, str], Set[str]]) -> None:
        lines = sorted('%s %s\n' % (address, name.rstrip('.'))
                       for (name, _), addresses in entries.items()
                       for address in addresses)
        directory = os.path.dirname(self.path) or '.'
        fd, tmp = tempfile.mkstemp(dir=directory, prefix='.dns.hosts.')
        try:
            with os.fdopen(fd, 'w') as stream:
                stream.write(HEADER + ''.join(lines))
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def _reload(self, timeout: float) -> None:
        command = self.conf.dns_hostsfile.reload_command
        if not command:
            return
        try:
            subprocess.run(shlex.split(command), check=True,
                           timeout=max(timeout, 1.0),
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError) as exc:
            raise BackendError('reload command failed: %s'
                               % type(exc).__name__) from None

    def records(self, zone: str, timeout: float) -> FrozenSet[Record]:
        ttl = self.conf.dns.ttl
        return frozenset(
            Record(zone, name, rtype, address, ttl)
            for (name, rtype), addresses in self._read().items()
            if name == zone or name.endswith('.' + zone)
            for address in addresses)

    def check(self, zones: Sequence[str]) -> List[CheckResult]:
        directory = os.path.dirname(self.path) or '.'
        writable = os.access(directory, os.W_OK)
        return [CheckResult('dns', 'hosts file writable', writable,
                            self.path)]
