"""``novahooks listen`` serves /metrics ([listen] metrics_port), and a real
Prometheus scrapes it: the counters a test drove, through the broker."""

import pathlib
from typing import Any
import urllib.request

import pytest

from novahooks_core import config
from novahooks_core.testing.samples import notification
from tests.listen.conftest import Publisher, Running, wait_until
from tests.prometheus import PrometheusServer, prometheus  # noqa: F401
from tests.servers import free_tcp_port


def test_the_listener_serves_metrics_prometheus_scrapes(
        samples_dir: pathlib.Path, publisher: Publisher, running: Any,
        listen_conf: pathlib.Path,
        prometheus: PrometheusServer) -> None:  # noqa: F811
    port = free_tcp_port()
    listen_conf.write_text(listen_conf.read_text().replace(
        '[listen]\n', '[listen]\nmetrics_port = %d\n' % port, 1))
    config.reset()
    config.load(str(listen_conf))
    listener: Running = running()
    for n in range(3):
        publisher.send(notification(
            samples_dir, 'instance-create-end',
            '00000000-0000-0000-0008-%012d' % n, hostname='m-%d' % n))
    publisher.send({'event_type': 'instance.update', 'payload': 'poison',
                    'publisher_id': 'nova-compute:c1'})
    wait_until(lambda: listener.stats().get('handled') == 3
               and listener.stats().get('failed') == 1, what='handled')
    with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % port,
                                timeout=5) as answer:
        text = answer.read().decode()
    assert 'novahooks_listen_lag_seconds' in text
    assert 'novahooks_dns_outbox_pending' in text
    prometheus.scrape('listener', '127.0.0.1:%d' % port)
    try:
        scraped(prometheus)
    finally:
        prometheus.forget('listener')
    listener.stop()  # its /metrics stops with it
    with pytest.raises(OSError):
        urllib.request.urlopen('http://127.0.0.1:%d/metrics' % port,
                               timeout=5)


def scraped(prometheus: PrometheusServer) -> None:  # noqa: F811
    prometheus.wait_for('novahooks_listen_messages_total{source="listener",'
                        'outcome="handled"}', 3)
    prometheus.wait_for('novahooks_listen_messages_total{source="listener",'
                        'outcome="failed"}', 1)
    prometheus.wait_for(
        'novahooks_handler_calls_total{source="listener",plugin="dns",'
        'hook="build_instance",phase="post"}', 3)
    prometheus.wait_for(
        'novahooks_handler_duration_seconds_count{source="listener",'
        'plugin="storage",hook="build_instance",phase="post"}', 3)
    prometheus.wait_for('novahooks_listen_in_flight{source="listener"}', 0)
    prometheus.wait_for('novahooks_storage_spool_depth{source="listener"}',
                        0)
