"""Notification throughput of ``novahooks listen`` against a bare listener.

Starts a private RabbitMQ (tools/rabbitmq-server.sh) on a free loopback
port. For each listener, N ``instance.create.end`` notifications (Nova 34's
own sample, one fixed IP and one volume each, distinct instances) are
queued first in its own durable pool queue; the clock runs from the
listener's start until it has handled all N.

- novahooks: the ``Listener`` of ``novahooks listen`` with ``audit``,
  ``dns`` (embedded default backend: a hosts file), ``storage`` and
  ``netinfo`` enabled, state in SQLite; one worker (the default: keeps an
  instance's notifications in order).
- the bridge alone: the same listener with only ``audit`` (a log line per
  event): what mapping, dispatch and acknowledging cost.
- bare: an oslo.messaging notification listener (threading executor, one
  worker) whose endpoint returns HANDLED at once.

- the same with ``[dns] send_budget_ms = 0``: DNS changes are left to the
  DNS plugin's background sender, which sends them in batches.
- the same with ``[listen] batch_size`` (``--batch-size``, 100):
  oslo.messaging's batch listener hands messages over in batches (each
  still handled on its own).

Prints notifications per second, the ratio (target in the issue: ≥ 0.5x)
and where the time of the novahooks listener goes (mapping, each
plugin's handlers, and the rest: transport and oslo.messaging). Asserts
nothing. Usage: bench_listen.py [--quick] [--count N] [--batch-size N] [--json]
"""

import argparse
import json
import pathlib
import shutil
import sys
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from novahooks_core import config, db, dispatch, timing  # noqa: E402
from novahooks_core.notify import mapping  # noqa: E402
from novahooks_core.notify.listener import Listener  # noqa: E402
from novahooks_core.testing import samples  # noqa: E402
from tests.rabbit import (  # noqa: E402
    EXCHANGE,
    TOPIC,
    Publisher,
    RabbitServer,
    nova_conf,
)


def messages(directory: pathlib.Path, count: int) -> List[Dict[str, Any]]:
    return [samples.notification(
        directory, 'instance-create-end',
        '00000000-0000-0000-0000-%012d' % index, hostname='bench-%d' % index,
        ips=[('port-%08d' % index, 'fa:16:3e:00:00:01', '10.%d.%d.%d' % (
            index // 65536 % 256, index // 256 % 256, index % 256), 4)],
        devices=[{'volume_id': 'vol-%08d' % index}])
        for index in range(count)]


def publish(url: str, directory: pathlib.Path,
            batch: List[Dict[str, Any]]) -> None:
    publisher = Publisher(url, directory)
    for message in batch:
        publisher.send(message, {})
    publisher.close()


class Bare:
    """oslo.messaging's listener with a no-op endpoint."""

    def __init__(self, url: str, directory: pathlib.Path, pool: str) -> None:
        import oslo_messaging
        self.handled = 0
        self.done = threading.Event()
        self.expected = 0
        conf = nova_conf(directory)
        self.transport = oslo_messaging.get_notification_transport(
            conf, url=url)
        owner = self

        class Endpoint:
            def info(self, ctxt: Any, publisher_id: str, event_type: str,
                     payload: Any, metadata: Any) -> Any:
                owner.handled += 1
                if owner.handled >= owner.expected:
                    owner.done.set()
                return oslo_messaging.NotificationResult.HANDLED

        self.server = oslo_messaging.get_notification_listener(
            self.transport,
            [oslo_messaging.Target(topic=TOPIC, exchange=EXCHANGE)],
            [Endpoint()], executor='threading', pool=pool,
            allow_requeue=True)
        conf.set_override('executor_thread_pool_size', 1)

    def stop(self) -> None:
        self.server.stop()
        self.server.wait()
        self.transport.cleanup()


def write_config(directory: pathlib.Path, url: str, pool: str,
                 plugins: str, workers: int, dns_budget_ms: float,
                 batch_size: int = 1) -> None:
    path = directory / 'novahooks.conf'
    path.write_text(
        '[DEFAULT]\nenabled_plugins = %(plugins)s\nstate_dir = %(dir)s\n\n'
        '[dns]\nzone = cloud.internal.\nreverse_zones = 10.in-addr.arpa.\n'
        'send_budget_ms = %(budget)s\n\n'
        '[dns_hostsfile]\npath = %(dir)s/hosts\n\n'
        '[listen]\ntransport_url = %(url)s\npool = %(pool)s\n'
        'workers = %(workers)d\nbatch_size = %(batch)d\n'
        'batch_timeout = 0.2\n\n'
        '[oslo_messaging_rabbit]\namqp_durable_queues = true\n'
        % {'dir': directory, 'url': url, 'pool': pool, 'plugins': plugins,
           'workers': workers, 'budget': dns_budget_ms, 'batch': batch_size})
    config.reset()
    config.load(str(path))
    dispatch.reset()
    db.reset()


def run_novahooks(url: str, directory: pathlib.Path, batch: List[Any],
                  plugins: str, workers: int = 1,
                  dns_budget_ms: float = 200.0,
                  batch_size: int = 1) -> Dict[str, float]:
    state = directory / ('%s-%d-%g-%d' % (plugins.replace(',', '-'), workers,
                                           dns_budget_ms, batch_size))
    state.mkdir()
    write_config(state, url, 'bench-%s-%d' % (state.name, workers), plugins,
                 workers, dns_budget_ms, batch_size)
    declare = Listener()   # declares the durable pool queue
    declare.start()
    declare.stop()
    publish(url, directory, batch)
    timing.reset()
    listener = Listener()
    start = time.perf_counter()
    listener.start()
    while listener.stats.snapshot().get('handled', 0) < len(batch):
        if time.perf_counter() - start > 1800:
            raise RuntimeError('novahooks listener stalled: %s'
                               % listener.stats.snapshot())
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    listener.stop()
    spent: Dict[str, float] = {}
    for name, stats in timing.snapshot().items():
        plugin = name.split(':')[0]
        spent[plugin] = spent.get(plugin, 0.0) + stats.total_seconds
    mapping_start = time.perf_counter()
    for message in batch:
        mapping.events(message['event_type'], message['payload'])
    spent['(mapping to events)'] = time.perf_counter() - mapping_start
    if workers == 1:  # else handler times overlap: no remainder
        spent['(transport, oslo.messaging, dispatch)'] = (
            elapsed - sum(spent.values()))
    spent['elapsed'] = elapsed
    return spent


def run_bare(url: str, directory: pathlib.Path, batch: List[Any]) -> float:
    declare = Bare(url, directory, 'bench-bare')
    declare.server.start()
    declare.stop()
    publish(url, directory, batch)
    bare = Bare(url, directory, 'bench-bare')
    bare.expected = len(batch)
    start = time.perf_counter()
    bare.server.start()
    if not bare.done.wait(1800):
        raise RuntimeError('bare listener stalled at %d' % bare.handled)
    elapsed = time.perf_counter() - start
    bare.stop()
    return elapsed


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true')
    parser.add_argument('--count', type=int, default=0)
    parser.add_argument('--json', action='store_true')
    parser.add_argument('--workers', type=int, default=1,
                        help='[listen] workers of the novahooks listener')
    parser.add_argument('--batch-size', type=int, default=100,
                        help='[listen] batch_size of the batched run')
    opts = parser.parse_args(argv)
    count = opts.count or (200 if opts.quick else 2000)
    directory = pathlib.Path(tempfile.mkdtemp(prefix='novahooks-bench-'))
    broker = RabbitServer.temporary()
    try:
        broker.start()
        batch = messages(samples.fetch(), count)
        bare_seconds = run_bare(broker.url, directory, batch)
        bridge = run_novahooks(broker.url, directory, batch, 'audit')
        spent = run_novahooks(broker.url, directory, batch,
                              'audit,dns,storage,netinfo', opts.workers)
        deferred = run_novahooks(broker.url, directory, batch,
                                 'audit,dns,storage,netinfo', opts.workers,
                                 dns_budget_ms=0)
        batched = run_novahooks(broker.url, directory, batch,
                                'audit,dns,storage,netinfo', opts.workers,
                                dns_budget_ms=0, batch_size=opts.batch_size)
    finally:
        broker.remove()
        config.reset()
        shutil.rmtree(str(directory), ignore_errors=True)
    elapsed = spent.pop('elapsed')
    bridge_elapsed = bridge.pop('elapsed')
    deferred_elapsed = deferred.pop('elapsed')
    batched_elapsed = batched.pop('elapsed')
    results: Dict[str, Any] = {
        'count': count, 'bare_per_second': count / bare_seconds,
        'bridge_per_second': count / bridge_elapsed,
        'bridge_ratio': bare_seconds / bridge_elapsed,
        'novahooks_per_second': count / elapsed,
        'ratio': bare_seconds / elapsed,
        'novahooks_seconds_by_part': spent,
        'dns_deferred_per_second': count / deferred_elapsed,
        'dns_deferred_ratio': bare_seconds / deferred_elapsed,
        'dns_deferred_seconds_by_part': deferred,
        'batch_size': opts.batch_size,
        'batched_per_second': count / batched_elapsed,
        'batched_ratio': bare_seconds / batched_elapsed,
        'batched_seconds_by_part': batched}
    if opts.json:
        print(json.dumps(results, indent=2))
        return 0
    print('novahooks listen, %d instance.create.end notifications, Python %s'
          % (count, sys.version.split()[0]))
    print('bare oslo.messaging listener (no-op endpoint): %.0f/s' % (
        results['bare_per_second']))
    print('novahooks listen, the bridge alone (audit only): %.0f/s; %.2fx'
          % (results['bridge_per_second'], results['bridge_ratio']))
    print('novahooks listen (audit, dns, storage, netinfo; %d worker%s): '
          '%.0f/s; %.2fx (target >= 0.5x: %s)' % (
              opts.workers, '' if opts.workers == 1 else 's',
              results['novahooks_per_second'], results['ratio'],
              'met' if results['ratio'] >= 0.5 else 'missed'))
    parts(spent, count, elapsed)
    print('the same with [dns] send_budget_ms = 0 (DNS sent by the '
          'background sender, in batches): %.0f/s; %.2fx' % (
              results['dns_deferred_per_second'],
              results['dns_deferred_ratio']))
    parts(deferred, count, deferred_elapsed)
    print('the same with [listen] batch_size = %d (oslo.messaging\'s batch '
          'listener; each message still handled on its own): %.0f/s; %.2fx'
          % (opts.batch_size, results['batched_per_second'],
             results['batched_ratio']))
    parts(batched, count, batched_elapsed)
    return 0


def parts(spent: Dict[str, float], count: int, elapsed: float) -> None:
    print('  where the time goes (with several workers, handler times are '
          'summed over them):')
    for part, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print('    %-40s %7.2f ms per notification (%4.1f%%)' % (
            part, seconds / count * 1000, 100 * seconds / elapsed))


if __name__ == '__main__':
    sys.exit(main())
