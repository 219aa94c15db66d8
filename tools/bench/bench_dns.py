"""DNS plugin throughput against a real BIND, and the cost of a heal.

Starts a private BIND (tools/bind-server.sh) on a free loopback port and
registers N instances (A + AAAA + PTR each) four ways in the same run:

- raw naive: a dnspython loop, one signed UPDATE per record;
- raw batched: a dnspython loop, 500 records per UPDATE;
- plugin inline: the ``instance_network_info`` hook through novahooks'
  dispatcher, each call sending its own changes within the budget (what
  Nova waits for);
- plugin deferred: the same hook calls with ``send_budget_ms = 0`` (the
  outbox only), then one flush (what the background sender does).

Then the per-call cost of an unchanged periodic heal against a no-op
NovaHook handler. Prints rates and ratios; asserts nothing.

Usage: bench_dns.py [--instances N] [--quick] [--json]
"""

import argparse
import ipaddress
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

from benchlib import per_call_us
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.update

from novahooks_core import HookEvent, HookPoint, NovaHook, config
from novahooks_core.hooks import dispatch
from novahooks_core.state import db
from novahooks_core.testing import factories
from novahooks_dns import service as dns_service

ROOT = pathlib.Path(__file__).resolve().parents[2]
ZONE = 'cloud.internal.'
V6_ZONE = '0.0.0.0.0.0.0.0.0.1.0.0.0.0.d.f.ip6.arpa.'


class Bind:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        sock = socket.socket()
        sock.bind(('127.0.0.1', 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.console = open(os.path.join(directory, 'console.log'), 'w')
        self.proc = subprocess.Popen(
            ['bash', str(ROOT / 'tools' / 'bind-server.sh'), directory,
             str(self.port)], stdout=self.console, stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHON=sys.executable))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with open(os.path.join(directory, 'console.log')) as stream:
                if any(line.startswith('ready') for line in stream):
                    break
            time.sleep(0.1)
        else:
            raise SystemExit('BIND did not start')
        with open(os.path.join(directory, 'server.json')) as stream:
            self.info = json.load(stream)
        self.keyring = dns.tsigkeyring.from_text(
            {self.info['key_name']: self.info['key_secret']})

    def update(self, zone: str) -> dns.update.Update:
        return dns.update.Update(
            zone, keyring=self.keyring, keyname=self.info['key_name'],
            keyalgorithm=dns.name.from_text(self.info['algorithm']))

    def send(self, message: dns.message.Message) -> None:
        wire = message.to_wire()
        if len(wire) > 512:
            response = dns.query.tcp(message, '127.0.0.1', port=self.port,
                                     timeout=10)
        else:
            response = dns.query.udp(message, '127.0.0.1', port=self.port,
                                     timeout=10)
        if response.rcode() != dns.rcode.NOERROR:
            raise SystemExit('BIND answered %s'
                             % dns.rcode.to_text(response.rcode()))

    def stop(self) -> None:
        subprocess.run(['bash', str(ROOT / 'tools' / 'bind-server.sh'),
                        '--stop', self.directory], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.proc.wait(timeout=30)
        self.console.close()


Rec = Tuple[str, str, str, str]   # zone, name, type, value


def plan(count: int) -> List[Tuple[Any, Any, List[Rec]]]:
    """Per instance: the Nova instance, its network info, its records."""
    out = []
    for index in range(count):
        v4 = str(ipaddress.ip_address('10.16.0.0') + index + 1)
        v6 = str(ipaddress.ip_address('fd00:10::') + index + 1)
        host = 'bench-%05d' % index
        network = factories.network_info(factories.vif(
            v4, ipv6=v6, port_id='port-%05d' % index))
        inst = factories.instance(state='active', host='c1', hostname=host,
                                  network=network)
        name = '%s.%s' % (host, ZONE)
        records = [(ZONE, name, 'A', v4), (ZONE, name, 'AAAA', v6),
                   (V6_ZONE, ipaddress.ip_address(v6).reverse_pointer + '.',
                    'PTR', name)]
        out.append((inst, network, records))
    return out


def raw(bind: Bind, records: List[Rec], batch: int, delete: bool = False
        ) -> float:
    start = time.perf_counter()
    by_zone: Dict[str, List[Rec]] = {}
    for record in records:
        by_zone.setdefault(record[0], []).append(record)
    for zone, items in by_zone.items():
        for offset in range(0, len(items), batch):
            update = bind.update(zone)
            for _, name, rtype, value in items[offset:offset + batch]:
                if delete:
                    update.delete(name, rtype, value)
                else:
                    update.add(name, 300, rtype, value)
            bind.send(update)
    return time.perf_counter() - start


def configure(state_dir: str, bind: Bind, budget_ms: float) -> None:
    path = os.path.join(state_dir, 'novahooks.conf')
    info = bind.info
    with open(path, 'w') as stream:
        stream.write(
            '[DEFAULT]\nenabled_plugins = dns\nstate_dir = %s\n'
            '[dns]\nbackend = rfc2136\nzone = %s\nreverse_zones = %s\n'
            'send_budget_ms = %s\n'
            '[dns_rfc2136]\nserver = 127.0.0.1\nport = %d\nkey_name = %s\n'
            'key_secret = %s\nkey_algorithm = %s\n' % (
                state_dir, ZONE, V6_ZONE, budget_ms, bind.port,
                info['key_name'], info['key_secret'], info['algorithm']))
    config.reset()
    config.load(path)
    dispatch.reset()
    dns_service.reset()
    db.reset()
    for name in os.listdir(state_dir):
        if name.startswith('dns.sqlite'):
            os.unlink(os.path.join(state_dir, name))


def call_hook(inst: Any, network: Any) -> None:
    args, kwargs = factories.instance_network_info_args(inst, network)
    hook = dispatch.InstanceNetworkInfo()
    post = hook.post
    assert post is not None
    post(None, *args, **kwargs)


def plugin(bind: Bind, state_dir: str, work: List[Tuple[Any, Any, Any]],
           budget_ms: float) -> float:
    configure(state_dir, bind, budget_ms)
    service = dns_service.service()
    service.sender.ensure_worker = lambda now=False: None  # type: ignore
    start = time.perf_counter()
    for inst, network, _ in work:
        call_hook(inst, network)
    service.sender.flush()
    elapsed = time.perf_counter() - start
    if service.sender.has_pending():
        raise SystemExit('changes left pending: %s'
                         % service.sender.flush().errors[-1:])
    return elapsed


class Noop(NovaHook):
    plugin_name = 'noop'
    hook_point = HookPoint.INSTANCE_NETWORK_INFO

    def handle_post(self, event: HookEvent) -> None:
        return None


def heal_costs(bind: Bind, state_dir: str, work: List[Tuple[Any, Any, Any]],
               rounds: int) -> Dict[str, float]:
    configure(state_dir, bind, 1000)
    inst, network, _ = work[0]
    call_hook(inst, network)   # registered; what follows is a heal
    heal_args, heal_kwargs = factories.instance_network_info_args(inst)
    dns_hook = dispatch.InstanceNetworkInfo

    def heal() -> None:
        post = dns_hook().post
        assert post is not None
        post(None, *heal_args, **heal_kwargs)

    heal_us = per_call_us(heal, rounds, 2000)
    config.reset()
    path = os.path.join(state_dir, 'noop.conf')
    with open(path, 'w') as stream:
        stream.write('[DEFAULT]\nenabled_plugins = noop\nstate_dir = %s\n'
                     % state_dir)
    config.load(path)

    def noop() -> None:
        post = Noop().post
        assert post is not None
        post(None, *heal_args, **heal_kwargs)

    noop_us = per_call_us(noop, rounds, 2000)
    return {'heal_us': heal_us, 'noop_us': noop_us,
            'ratio': heal_us / noop_us}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--instances', type=int, default=5000)
    parser.add_argument('--quick', action='store_true',
                        help='300 instances (a smoke run)')
    parser.add_argument('--json', action='store_true')
    opts = parser.parse_args(argv)
    count = 300 if opts.quick else opts.instances
    work = plan(count)
    records = [r for _, _, rs in work for r in rs]
    bind_dir = tempfile.mkdtemp(prefix='novahooks-bench-bind-')
    state_dir = tempfile.mkdtemp(prefix='novahooks-bench-state-')
    bind = Bind(bind_dir)
    try:
        results: Dict[str, Any] = {'instances': count,
                                   'records': len(records)}
        timings = {}
        timings['raw naive (1 record/update)'] = raw(bind, records, 1)
        raw(bind, records, 500, delete=True)
        timings['raw batched (500/update)'] = raw(bind, records, 500)
        raw(bind, records, 500, delete=True)
        timings['plugin inline (per hook call)'] = plugin(
            bind, state_dir, work, 1000.0)
        raw(bind, records, 500, delete=True)
        timings['plugin deferred (outbox, then flush)'] = plugin(
            bind, state_dir, work, 0.0)
        raw(bind, records, 500, delete=True)
        naive = len(records) / timings['raw naive (1 record/update)']
        rates = {k: len(records) / v for k, v in timings.items()}
        results['records_per_second'] = rates
        results['ratio_vs_raw_naive'] = {k: r / naive
                                         for k, r in rates.items()}
        results['heal'] = heal_costs(bind, state_dir, work,
                                     3 if opts.quick else 5)
    finally:
        bind.stop()
        shutil.rmtree(bind_dir, ignore_errors=True)
        shutil.rmtree(state_dir, ignore_errors=True)
    if opts.json:
        print(json.dumps(results, indent=2))
        return 0
    print('DNS plugin vs raw dnspython, %d instances, %d records '
          '(A + AAAA + PTR each), one BIND on 127.0.0.1, Python %s'
          % (count, len(records), sys.version.split()[0]))
    print()
    print('%-40s %12s %10s' % ('', 'records/s', 'x naive'))
    for key, rate in results['records_per_second'].items():
        print('%-40s %12.0f %9.2fx' % (key, rate,
                                       results['ratio_vs_raw_naive'][key]))
    heal = results['heal']
    print()
    print('unchanged heal (instance_network_info post, dns enabled): '
          '%.2f µs per call; no-op NovaHook handler: %.2f µs; %.2fx'
          % (heal['heal_us'], heal['noop_us'], heal['ratio']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
