"""DNS backends behind :class:`DnsBackend`, chosen by stevedore driver name
(namespace ``novahooks.dns.backends``)."""

import abc
import dataclasses
from typing import FrozenSet, List, Sequence, Tuple

from oslo_config import cfg

from novahooks_core.plugin import CheckResult
from novahooks_dns.records import Record

NAMESPACE = 'novahooks.dns.backends'


@dataclasses.dataclass(frozen=True)
class Change:
    """Add or delete one record."""

    op: str          # 'add' or 'delete'
    record: Record


def net_changes(changes: Sequence[Change]) -> List[Change]:
    """The changes with only the last one of each record kept, in order:
    the same end state, since adding and deleting one record are set
    operations. Servers need not apply an add and a delete of one record
    in one message in order (PowerDNS 4.7 does not)."""
    def key(change: Change) -> Tuple[str, str, str]:
        record = change.record  # a delete removes the value whatever TTL
        return record.name, record.rtype, record.value

    last = {key(change): index for index, change in enumerate(changes)}
    return [change for index, change in enumerate(changes)
            if last[key(change)] == index]


class BackendError(Exception):
    """A change was not applied. The message is safe to log and store."""


class DnsBackend(abc.ABC):
    """A place DNS records are published."""

    #: Options of the backend's own group (``dns_<name>``).
    options: Sequence[cfg.Opt] = ()
    #: The record types the backend can hold (others are never desired).
    record_types: FrozenSet[str] = frozenset(['A', 'AAAA', 'PTR'])

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf

    @abc.abstractmethod
    def apply(self, zone: str, changes: Sequence[Change],
              timeout: float) -> None:
        """Apply ``changes`` to ``zone`` in order, as one transaction where
        the server allows. Adding a present record or deleting an absent
        one is not an error. Raises :class:`BackendError`."""

    @abc.abstractmethod
    def records(self, zone: str, timeout: float) -> FrozenSet[Record]:
        """The records ``zone`` serves now (A, AAAA and PTR only).
        Raises :class:`BackendError`."""

    @abc.abstractmethod
    def check(self, zones: Sequence[str]) -> List[CheckResult]:
        """Reachable? Credentials accepted? Zones served?"""
