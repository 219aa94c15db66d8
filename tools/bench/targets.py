"""The benchmarks' targets: one per figure, shared by every benchmark that
prints it, and judged the same way everywhere ("met" or "MISSED").

A benchmark's ``--check`` may fail only on a gross regression (a wider
limit, see ``bench_nova_hooks.FAR``); a figure past its target still
prints ``MISSED`` when ``--check`` passes.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Target:
    """A figure's target: ``value <= limit`` (``at_most``) or
    ``value >= limit``."""

    what: str
    limit: float
    unit: str  # 'x', 'us', 'ms', 'MiB'
    at_most: bool = True

    def met(self, value: float) -> bool:
        return value <= self.limit if self.at_most else value >= self.limit

    def verdict(self, value: float) -> str:
        return 'met' if self.met(value) else 'MISSED'

    def judged(self, value: float) -> str:
        """``"target <= 1.5x: MISSED"``: what a report prints after a
        figure."""
        return 'target %s %g%s: %s' % ('<=' if self.at_most else '>=',
                                       self.limit, self.unit,
                                       self.verdict(value))


# The hook path, inside Nova (bench_core, bench_nova_hooks).
NOOP_RATIO = Target('a no-op (or disabled) NovaHook handler / a bare hook '
                    'class', 1.5, 'x')
CREATE_ADDED_US = Target('create_instance pre+post, full normalization '
                         '(added to the floor)', 50.0, 'us')
HEAL_ADDED_RATIO = Target('an unchanged heal with dns+storage+netinfo: '
                          'time added / the floor', 1.0, 'x')
FIRST_CALL_MS = Target("a fresh process's first heal: its slowest handler",
                       50.0, 'ms')
# netinfo (bench_netinfo).
NETINFO_HEAL_RATIO = Target('netinfo unchanged heal / a no-op handler',
                            3.0, 'x')
# storage (bench_storage).
STORAGE_DELETE_RATIO = Target('storage plugin deletes/s / raw per-instance',
                              0.7, 'x', at_most=False)
# The listener (bench_listen), ratios to a bare oslo.messaging listener of
# the same run.
LISTEN_DEFAULT_RATIO = Target('one listener on SQLite, default settings / '
                              'bare', 0.5, 'x', at_most=False)
LISTEN_BEST_BATCH_RATIO = Target('one listener on SQLite, batch_size at its '
                                 'best / bare', 0.8, 'x', at_most=False)
LISTEN_POSTGRESQL_RATIO = Target('one listener on PostgreSQL / bare', 0.4,
                                 'x', at_most=False)
LISTEN_TWO_LISTENERS_RATIO = Target('two listeners on PostgreSQL / one', 1.7,
                                    'x', at_most=False)
LISTEN_PEAK_RSS_MIB = Target("a listener process's peak RSS", 150.0, 'MiB')
# The webhook sender (bench_webhook), to a plain loop of signed POSTs with
# the same client in the same run (issue #26).
WEBHOOK_SENDER_RATIO = Target('webhook sender events/s / a loop of signed '
                              'POSTs', 0.8, 'x', at_most=False)
