"""Metrics Prometheus really scrapes: the textfile a process running hooks
writes ([DEFAULT] metrics_dir; served here by a file-serving endpoint of
the test, as node_exporter's textfile collector would), and ``novahooks
metrics``. The listener's /metrics: tests/listen/test_metrics.py."""

import pathlib
import socket
import subprocess
import sys
import time
from typing import Iterator, Tuple

import pytest

from novahooks_core import config
from novahooks_core.containment import metrics, timing
from novahooks_core.testing import NovaRunner, run_lifecycle
from tests.conftest import WriteConfig
from tests.prometheus import PrometheusServer, prometheus  # noqa: F401
from tests.servers import free_tcp_port


@pytest.fixture
def textfile_endpoint(tmp_path: pathlib.Path) -> Iterator[str]:
    """host:port of a file server (``python -m http.server``, a process of
    its own) over ``tmp_path/metrics``: Prometheus reads a textfile there
    as node_exporter's textfile collector would serve it."""
    directory = tmp_path / 'metrics'
    directory.mkdir(exist_ok=True)
    port = free_tcp_port()
    server = subprocess.Popen(
        [sys.executable, '-m', 'http.server', '--bind', '127.0.0.1',
         str(port)], cwd=str(directory), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(('127.0.0.1', port)) == 0:
                break
        time.sleep(0.05)
    yield '127.0.0.1:%d' % port
    server.terminate()
    server.wait(30)


def _written(path: pathlib.Path) -> Tuple[int, int]:
    """Which write of ``path`` is there: each is a new file renamed over
    the last (a new inode), whatever the file system's time resolution."""
    found = path.stat()
    return found.st_ino, found.st_mtime_ns


def test_a_process_running_hooks_writes_its_textfile_at_most_every_interval(
        write_config: WriteConfig, tmp_path: pathlib.Path) -> None:
    interval = 3.0
    directory = tmp_path / 'metrics'
    write_config(enabled_plugins='audit', metrics_dir=directory,
                 metrics_interval_seconds=interval)
    metrics.reset()
    timing.reset()
    dead = directory / 'novahooks-999999999.prom'  # a process gone
    directory.mkdir()
    dead.write_text('# a stale file\n')
    runner = NovaRunner()
    started = time.monotonic()
    run_lifecycle(runner, count=2)  # the first handler call writes it
    written_by = time.monotonic()
    mine = list(directory.glob('novahooks-*.prom'))
    assert len(mine) == 1 and not dead.exists()
    first = _written(mine[0])
    # It was last written after `started`: a call that has returned
    # before `started + interval` is within the interval, and writes
    # nothing. (On a machine too slow for even one such call, the test
    # says so rather than passing without having looked.)
    within = 0
    while within < 3:
        run_lifecycle(runner, count=1)
        if time.monotonic() >= started + interval:
            break
        within += 1
        assert _written(mine[0]) == first
    assert within >= 1, 'no call returned within %s s of the write' % (
        interval)
    # It was last written by `written_by`: the interval is over once that
    # plus the interval has passed, and the next call writes it again.
    time.sleep(max(0.0, written_by + interval - time.monotonic()))
    run_lifecycle(runner, count=1)
    assert _written(mine[0]) != first
    text = mine[0].read_text()
    assert 'novahooks_handler_calls_total{hook="create_instance",' in text
    assert 'process="' in text
    metrics.reset()


def test_prometheus_reads_the_textfile_of_a_process_that_ran_hooks(
        tmp_path: pathlib.Path, prometheus: PrometheusServer,  # noqa: F811
        textfile_endpoint: str) -> None:
    """``simulate --live`` runs the hooks as Nova does; its textfile holds
    its last counts once it exits."""
    directory = tmp_path / 'metrics'
    conf = tmp_path / 'novahooks.conf'
    conf.write_text('[DEFAULT]\nenabled_plugins = audit\nstate_dir = %s\n'
                    'metrics_dir = %s\n' % (tmp_path / 'state', directory))
    result = subprocess.run(
        [sys.executable, '-m', 'novahooks_core.cli.app', '--config-file',
         str(conf), 'simulate', '--live', '--count', '2'],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    (found,) = directory.glob('novahooks-*.prom')
    prometheus.scrape('textfile', textfile_endpoint, '/' + found.name)
    try:
        scraped(prometheus, found)
    finally:
        prometheus.forget('textfile')


def scraped(prometheus: PrometheusServer,  # noqa: F811
            found: pathlib.Path) -> None:
    series = prometheus.wait_for(
        'novahooks_handler_calls_total{source="textfile",plugin="audit",'
        'hook="delete_instance",phase="post"}', 2)
    assert series[0]['metric']['process'].endswith(
        '-%s' % found.name[len('novahooks-'):-len('.prom')])
    prometheus.wait_for(
        'novahooks_handler_duration_seconds_count{source="textfile",'
        'plugin="audit",hook="create_instance",phase="post"}', 1)


def test_metrics_prints_the_plugins_state(tmp_path: pathlib.Path) -> None:
    """DNS changes left pending (the server is not there, and sending is
    left to the background): the outbox gauge says how many, and how old
    the oldest is."""
    path = tmp_path / 'novahooks.conf'
    path.write_text(
        '[DEFAULT]\nenabled_plugins = audit,dns,storage,netinfo\n'
        'state_dir = %s\n[dns]\nbackend = rfc2136\nsend_budget_ms = 0\n'
        '[dns_rfc2136]\nserver = 127.0.0.1\nport = 1\ntimeout = 0.2\n'
        % (tmp_path / 'state'))

    def novahooks(*argv: str) -> 'subprocess.CompletedProcess[str]':
        return subprocess.run(
            [sys.executable, '-m', 'novahooks_core.cli.app', '--config-file',
             str(path)] + list(argv), capture_output=True, text=True,
            timeout=300)
    assert novahooks('simulate', '--live').returncode == 0
    time.sleep(1.0)
    result = novahooks('metrics')
    assert result.returncode == 0, result.stderr
    values = {line.split()[0]: float(line.split()[1])
              for line in result.stdout.splitlines()
              if line and not line.startswith('#')}
    assert values['novahooks_dns_outbox_pending'] >= 2  # A and AAAA
    assert values['novahooks_dns_outbox_oldest_seconds'] >= 1.0
    assert values['novahooks_storage_spool_depth'] == 0
    assert 'novahooks_netinfo_anomalies_24h' in values
    out = tmp_path / 'state.prom'
    assert novahooks('metrics', '--output', str(out)).returncode == 0
    assert 'novahooks_dns_outbox_pending' in out.read_text()
    config.reset()
