"""Metrics Prometheus really scrapes: the textfile a process running hooks
writes ([DEFAULT] metrics_dir; served here by a file-serving endpoint of
the test, as node_exporter's textfile collector would), and ``novahooks
metrics``. The listener's /metrics: tests/listen/test_metrics.py."""

import http.server
import pathlib
import subprocess
import sys
import threading
import time
from typing import Iterator

import pytest

from novahooks_core import config, metrics, timing
from novahooks_core.testing import NovaRunner, run_lifecycle
from tests.conftest import WriteConfig
from tests.prometheus import PrometheusServer, prometheus  # noqa: F401
from tests.servers import free_tcp_port


@pytest.fixture
def textfile_endpoint(tmp_path: pathlib.Path) -> Iterator[str]:
    """host:port serving, on /metrics, every .prom file of
    ``tmp_path/metrics`` (what node_exporter's textfile collector
    exposes)."""
    directory = tmp_path / 'metrics'

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the library's name)
            body = b''.join(p.read_bytes()
                            for p in sorted(directory.glob('*.prom')))
            self.send_response(200)
            self.send_header('Content-Type', 'text/plain; version=0.0.4')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(('127.0.0.1', free_tcp_port()),
                                             Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield '127.0.0.1:%d' % server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_process_running_hooks_writes_its_textfile_and_prometheus_reads_it(
        write_config: WriteConfig, tmp_path: pathlib.Path,
        prometheus: PrometheusServer,  # noqa: F811
        textfile_endpoint: str) -> None:
    directory = tmp_path / 'metrics'
    write_config(enabled_plugins='audit', metrics_dir=directory,
                 metrics_interval_seconds=1)
    metrics.reset()
    timing.reset()
    dead = directory / 'novahooks-999999999.prom'  # a process gone
    directory.mkdir()
    dead.write_text('# a stale file\n')
    runner = NovaRunner()
    run_lifecycle(runner, count=2)
    mine = list(directory.glob('novahooks-*.prom'))
    assert len(mine) == 1 and not dead.exists()
    first = mine[0].stat().st_mtime_ns
    run_lifecycle(runner, count=1)  # within the interval: not written
    assert mine[0].stat().st_mtime_ns == first
    time.sleep(1.1)
    run_lifecycle(runner, count=1)  # written again at its first call
    time.sleep(1.1)
    run_lifecycle(runner, count=1)  # ... which holds the 4 deletes before
    text = mine[0].read_text()
    assert 'novahooks_handler_calls_total{hook="create_instance",' in text
    assert 'process="' in text
    prometheus.scrape('textfile', textfile_endpoint)
    found = prometheus.wait_for(
        'novahooks_handler_calls_total{source="textfile",plugin="audit",'
        'hook="delete_instance",phase="post"}', 4)
    assert found[0]['metric']['process'].endswith('-%s' % mine[0].name[
        len('novahooks-'):-len('.prom')])
    prometheus.wait_for(
        'novahooks_handler_duration_seconds_count{source="textfile",'
        'plugin="audit",hook="create_instance",phase="post"}', 3)


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
