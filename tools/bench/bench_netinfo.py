"""Netinfo plugin: the cost of an unchanged heal and of a changed update.

- Unchanged periodic heal of a 4-VIF, 8-IP network info through
  novahooks' dispatcher with ``netinfo`` enabled, against a no-op NovaHook
  handler on the same call (target in the issue: ≤ 3x). Recognised from
  the raw input's key (``normalize.network_info_key``), in memory.
- The same heal once ``recheck_seconds`` has passed (or in a new process):
  normalized and compared with the history database.
- A changed update (alternating two network infos, so every call records
  a change) against a raw JSON diff of the two cache texts.

Prints µs per call and ratios measured in the same run; asserts nothing.
Usage: bench_netinfo.py [--quick] [--json]
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
from typing import Any, Dict, List, Optional

from benchlib import per_call_us
import targets

from novahooks_core import HookEvent, HookPoint, NovaHook, config
from novahooks_core.hooks import dispatch
from novahooks_core.state import db
from novahooks_core.testing import factories
from novahooks_netinfo import service as netinfo_service


class Noop(NovaHook):
    plugin_name = 'noop'
    hook_point = HookPoint.INSTANCE_NETWORK_INFO

    def handle_post(self, event: HookEvent) -> None:
        return None


def four_vifs(offset: int) -> Any:
    return factories.network_info(*(
        factories.vif('10.0.%d.%d' % (i, 10 + offset),
                      ipv6='fd00:10::%x' % (0x10 * (i + 1) + offset),
                      port_id='port-%d' % i, network_label='net%d' % i)
        for i in range(4)))


def load(directory: str, plugins: str, extra: str = '') -> None:
    path = os.path.join(directory, plugins + '.conf')
    with open(path, 'w') as stream:
        stream.write('[DEFAULT]\nenabled_plugins = %s\nstate_dir = %s\n%s'
                     % (plugins, directory, extra))
    config.reset()
    config.load(path)
    dispatch.reset()
    netinfo_service.reset()
    db.reset()


def raw_json_diff(text_a: str, text_b: str) -> None:
    """What a hand-written hook would do: parse both texts and compare
    the (VIF, address) pairs."""
    def pairs(text: str) -> set:
        return {(vif['id'], ip['address'])
                for vif in json.loads(text)
                for subnet in vif['network']['subnets']
                for ip in subnet['ips']}
    a, b = pairs(text_a), pairs(text_b)
    _ = (a - b, b - a)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true')
    parser.add_argument('--json', action='store_true')
    opts = parser.parse_args(argv)
    rounds, n = (3, 300) if opts.quick else (5, 2000)
    directory = tempfile.mkdtemp(prefix='novahooks-bench-netinfo-')
    results: Dict[str, float] = {}
    try:
        inst = factories.instance(state='active', host='c1')
        first, second = four_vifs(0), four_vifs(1)
        heal_args, heal_kwargs = factories.instance_network_info_args(
            inst, first)
        change_calls = [factories.instance_network_info_args(inst, net)
                        for net in (first, second)]

        def call(args: Any, kwargs: Any, cls: Any) -> None:
            post = cls().post
            assert post is not None
            post(None, *args, **kwargs)

        load(directory, 'netinfo')
        call(heal_args, heal_kwargs, dispatch.InstanceNetworkInfo)
        results['heal_us'] = per_call_us(lambda: call(
            heal_args, heal_kwargs, dispatch.InstanceNetworkInfo), rounds, n)
        flip = [0]

        def changed() -> None:
            flip[0] ^= 1
            args, kwargs = change_calls[flip[0]]
            call(args, kwargs, dispatch.InstanceNetworkInfo)

        results['changed_us'] = per_call_us(changed, rounds, n // 10)
        load(directory, 'netinfo', '[netinfo]\nrecheck_seconds = 0\n')
        call(heal_args, heal_kwargs, dispatch.InstanceNetworkInfo)
        results['recheck_us'] = per_call_us(lambda: call(
            heal_args, heal_kwargs, dispatch.InstanceNetworkInfo), rounds,
            n // 10)
        load(directory, 'noop')
        results['noop_us'] = per_call_us(lambda: call(
            heal_args, heal_kwargs, Noop), rounds, n)
        texts = (first.json(), second.json())
        results['raw_diff_us'] = per_call_us(
            lambda: raw_json_diff(*texts), rounds, n)
    finally:
        config.reset()
        shutil.rmtree(directory, ignore_errors=True)
    results['heal_ratio'] = results['heal_us'] / results['noop_us']
    results['changed_ratio'] = results['changed_us'] / results['raw_diff_us']
    if opts.json:
        print(json.dumps(results, indent=2))
        return 0
    print('netinfo, 4 VIFs / 8 IPs, Python %s' % sys.version.split()[0])
    print('unchanged heal: %.1f µs per call; no-op NovaHook handler: %.1f '
          'µs; %.1fx (%s)' % (
              results['heal_us'], results['noop_us'], results['heal_ratio'],
              targets.NETINFO_HEAL_RATIO.judged(results['heal_ratio'])))
    print('unchanged heal checked against the history (recheck_seconds '
          'passed, or a new process): %.1f µs per call' % (
              results['recheck_us']))
    print('changed update (recorded in the history database): %.1f µs per '
          'call; raw JSON diff of the two cache texts: %.1f µs; %.1fx' % (
              results['changed_us'], results['raw_diff_us'],
              results['changed_ratio']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
