"""Prometheus metrics (prometheus-client), in three places:

- ``novahooks listen`` serves ``/metrics`` on ``[listen] metrics_port``:
  the handlers' counters and durations, its messages and lag, and the
  enabled plugins' state gauges;
- inside Nova's processes (many API workers, no port to open) each
  process writes its handlers' counters and durations to
  ``<metrics_dir>/novahooks-<pid>.prom`` for node_exporter's textfile
  collector (``[DEFAULT] metrics_dir``, at most every
  ``metrics_interval_seconds``, atomically, and once more when the
  process exits; a ``process`` label keeps the files apart, and files of
  processes gone are removed);
- ``novahooks metrics`` prints the plugins' state gauges (outbox depth,
  spools, retained volumes, anomalies of the last 24 h), for cron.

Handler series are named after the timing names ``plugin:hook:phase``
(:mod:`novahooks_core.containment.timing`).
"""

import atexit
import glob
import http.server
import itertools
import os
import re
import threading
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
)

from oslo_log import log as logging
from prometheus_client import (
    CollectorRegistry,
    generate_latest,
    write_to_textfile,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)

from novahooks_core import config, plugin
from novahooks_core.containment import timing

LOG = logging.getLogger(__name__)

Metric = Any
Source = Callable[[], Iterable[Metric]]


class Gauge(NamedTuple):
    """One value of a plugin's state (:meth:`Plugin.gauges`)."""

    name: str
    documentation: str
    value: float
    labels: Mapping[str, str] = {}


#: Handler counters: (timing field, metric name, help).
_COUNTERS = (
    ('calls', 'novahooks_handler_calls',
     'Handler calls (those skipped as unchanged included).'),
    ('errors', 'novahooks_handler_errors', 'Handler calls that failed.'),
    ('bad_input', 'novahooks_handler_bad_input',
     'Handler calls given input they could not use.'),
    ('vetoes', 'novahooks_handler_vetoes', 'Requests a handler refused.'),
    ('slow', 'novahooks_handler_slow',
     'Handler calls slower than slow_hook_threshold_ms.'),
    ('unchanged', 'novahooks_handler_unchanged',
     'Handler calls skipped as unchanged (the periodic heal).'),
)

_LABELS = ('plugin', 'hook', 'phase')


def _labels(name: str) -> List[str]:
    parts = name.split(':', 2)
    return parts + [''] * (3 - len(parts))


def handler_families(extra: Optional[Mapping[str, str]] = None
                     ) -> List[Metric]:
    """Every handler's counters and duration histogram (``extra``: labels
    added to each series)."""
    extra = dict(extra or {})
    names = list(_LABELS) + sorted(extra)
    more = [extra[k] for k in sorted(extra)]
    counters = {field: CounterMetricFamily(metric, text, labels=names)
                for field, metric, text in _COUNTERS}
    duration = HistogramMetricFamily(
        'novahooks_handler_duration_seconds',
        'Time of handler calls (those skipped as unchanged are not timed).',
        labels=names)
    for name, stats in sorted(timing.snapshot().items()):
        labels = _labels(name) + more
        for field, family in counters.items():
            family.add_metric(labels, getattr(stats, field))
        cumulative = list(itertools.accumulate(stats.buckets))
        duration.add_metric(labels, [
            (repr(bound), count) for bound, count in zip(
                timing.BUCKETS, cumulative)] + [('+Inf', cumulative[-1])],
            stats.total_seconds)
    return list(counters.values()) + [duration]


def gauge_families(gauges: Iterable[Gauge]) -> List[Metric]:
    """``gauges`` as metric families (one per name)."""
    families: Dict[str, Any] = {}
    for gauge in gauges:
        keys = sorted(gauge.labels)
        family = families.get(gauge.name)
        if family is None:
            family = families[gauge.name] = GaugeMetricFamily(
                gauge.name, gauge.documentation, labels=keys)
        family.add_metric([str(gauge.labels[k]) for k in keys],
                          float(gauge.value))
    return list(families.values())


def plugin_gauges() -> List[Gauge]:
    """The state gauges of every enabled, installed plugin; one that
    cannot tell is counted in ``novahooks_plugin_gauges_failed``."""
    found: List[Gauge] = []
    for name in plugin.enabled():
        try:
            found += plugin.load(name).gauges()
        except Exception as exc:
            LOG.warning('novahooks: plugin %s cannot tell its state '
                        'metrics: %s: %s', name, type(exc).__name__, exc)
            found.append(Gauge('novahooks_plugin_gauges_failed',
                               'Plugins whose state gauges failed.', 1,
                               {'plugin': name}))
    return found


class _Collector:
    """prometheus-client's collector over ``sources`` (each called at
    every scrape; a failing one is logged, the others still shown)."""

    def __init__(self, sources: Sequence[Source]) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            try:
                found = list(source())
            except Exception:
                LOG.exception('novahooks: a metrics source failed')
                continue
            yield from found

    def describe(self) -> List[Metric]:
        return []  # nothing collected when registered


def registry(*sources: Source) -> CollectorRegistry:
    """A registry holding only these sources."""
    found = CollectorRegistry(auto_describe=False)
    found.register(_Collector(sources))
    return found


def exposition(found: CollectorRegistry) -> str:
    """The registry in Prometheus's text exposition format."""
    return generate_latest(found).decode('utf-8')


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        LOG.debug('novahooks: a metrics scrape from %s failed',
                  client_address, exc_info=True)


def serve(host: str, port: int, found: CollectorRegistry) -> Any:
    """Serve ``/metrics`` of ``found`` on ``host:port`` in a daemon thread;
    returns the server (``shutdown()`` and ``server_close()`` stop it). A
    scrape the client gave up on is a DEBUG line, not a traceback."""
    from prometheus_client.exposition import MetricsHandler
    server = _Server((host, port), MetricsHandler.factory(found))
    threading.Thread(target=server.serve_forever, daemon=True,
                     name='novahooks-metrics').start()
    return server


# -- the textfile of a process inside Nova ---------------------------------

_PROM = re.compile(r'novahooks-(\d+)\.prom$')


class Textfile:
    """This process's handler metrics, written to ``directory`` at most
    every ``interval`` seconds (:func:`tick`, from the hook path)."""

    def __init__(self, directory: str, interval: float) -> None:
        self.directory = directory
        self.interval = interval
        self.path = os.path.join(directory, 'novahooks-%d.prom'
                                 % os.getpid())
        self.process = '%s-%d' % (os.path.basename(
            _program()) or 'python', os.getpid())
        self._registry = registry(lambda: handler_families(
            {'process': self.process}))

    def write(self) -> None:
        """Write the file now (atomically); remove those of processes
        that are gone."""
        os.makedirs(self.directory, exist_ok=True)
        write_to_textfile(self.path, self._registry)
        for other in glob.glob(os.path.join(self.directory,
                                            'novahooks-*.prom')):
            found = _PROM.search(other)
            if found and not os.path.exists('/proc/%s' % found.group(1)):
                try:
                    os.unlink(other)
                except OSError:
                    pass


def _program() -> str:
    try:
        with open('/proc/self/comm') as stream:
            return stream.read().strip()
    except OSError:
        return ''


_lock = threading.Lock()
_textfile: Optional[Textfile] = None
_conf: Any = None


def write_textfile() -> None:
    """Write this process's textfile for ``[DEFAULT] metrics_dir`` (called
    by :mod:`novahooks_core.containment.timing` after a handler call, at
    most every ``metrics_interval_seconds``); never raises, never waits
    for another thread's write."""
    global _textfile, _conf
    if not _lock.acquire(blocking=False):
        return
    try:
        conf = config.get()
        if conf is not _conf:
            _conf = conf
            directory = os.path.expanduser(conf.metrics_dir or '')
            if directory and _textfile is None:
                atexit.register(_at_exit)  # a short process's last counts
            _textfile = (Textfile(directory, conf.metrics_interval_seconds)
                         if directory else None)
        if _textfile is not None:
            _textfile.write()
    except Exception as exc:
        LOG.warning('novahooks: cannot write the metrics textfile: %s: %s',
                    type(exc).__name__, exc)
    finally:
        _lock.release()


def _at_exit() -> None:
    found = _textfile
    if found is not None:
        try:
            found.write()
        except Exception:
            pass


def reset() -> None:
    """Forget the textfile (tests, or after a fork)."""
    global _textfile, _conf
    with _lock:
        _textfile, _conf = None, None


timing.register_textfile_writer(write_textfile)


__all__ = ['Gauge', 'Textfile', 'exposition', 'gauge_families',
           'handler_families', 'plugin_gauges', 'registry', 'serve',
           'write_textfile']
