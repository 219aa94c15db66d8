#!/usr/bin/env python3
"""Per-call cost of ``novahooks_core.NovaHook`` against a bare hook class.

Every scenario runs the same Nova-shaped arguments (``lifecycle.factories``,
Nova 21 shapes) through two paths:

* ``direct``: what Nova's hook runner does per hook object and call: build
  the class, ``getattr`` ``pre``, call it if truthy, ``getattr`` ``post``,
  call it if truthy (no stevedore);
* ``runner``: ``NovaRunner.call``, which builds a stevedore ``HookManager``
  per call as Nova does, records each run and calls the hooked function.

Each figure is the best of ``--rounds`` rounds (the median is in the JSON);
ratios are against the bare class measured in the same run, same mode and
same hook point. Prints numbers only; nothing here asserts on timings.
Usage: ``python tools/bench/bench_core.py [--quick] [--json]``.
"""

import argparse
import dataclasses
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from benchlib import per_call_us
from stevedore import hook as stevedore_hook
import targets

from novahooks_core import HookEvent, HookPoint, NovaHook, config
from novahooks_core.containment import timing
from novahooks_core.runner import NovaRunner
from novahooks_core.testing import factories

MODES = ('direct', 'runner')
SCENARIOS = ('bare', 'noop', 'disabled', 'normalize')


class Bare:
    """The cheapest hook class Nova can run."""

    def pre(self, *args: Any, **kwargs: Any) -> None:
        pass

    def post(self, rv: Any, *args: Any, **kwargs: Any) -> None:
        pass


class NoopHook(NovaHook):
    plugin_name = 'bench'

    def handle_pre(self, event: HookEvent) -> Optional[str]:
        return None

    def handle_post(self, event: HookEvent) -> Optional[str]:
        return None


class NormalizeHook(NovaHook):
    plugin_name = 'bench'

    def handle_pre(self, event: HookEvent) -> Optional[str]:
        event.normalized()
        return None

    def handle_post(self, event: HookEvent) -> Optional[str]:
        event.normalized()
        return None


@dataclasses.dataclass(frozen=True)
class Case:
    """One hook point's arguments and the hooked function's return value."""

    point: HookPoint
    args: Tuple[Any, ...]
    kwargs: Dict[str, Any]
    rv: Any


@dataclasses.dataclass
class Result:
    point: str
    scenario: str
    mode: str
    us_best: float     # best round: the figure reported and judged
    us_median: float
    calls_per_round: int
    timing_listeners: int
    ratio: float = 0.0


def make_cases() -> List[Case]:
    """Nova 21 arguments. Create returns one new instance; build, delete
    and network get an active instance whose info cache holds 4 VIFs (the
    same list is network's ``nw_info``, by keyword as on allocation)."""
    nw_info = factories.network_info(*(
        factories.vif(address='10.0.0.%d' % (10 + i),
                      ipv6='fd00:10::%x' % (0x10 + i),
                      floating=['172.24.4.%d' % (10 + i)] if i == 0 else [])
        for i in range(4)))
    inst = factories.instance(state='active', host='compute-1',
                              network=nw_info)
    created = ([factories.instance(state='building')], 'r-00000001')
    cases = []
    for point, (args, kwargs), rv in (
            (HookPoint.CREATE_INSTANCE, factories.create_instance_args(),
             created),
            (HookPoint.BUILD_INSTANCE, factories.build_instance_args(inst),
             'active'),
            (HookPoint.DELETE_INSTANCE, factories.delete_instance_args(inst),
             None),
            (HookPoint.INSTANCE_NETWORK_INFO,
             factories.instance_network_info_args(inst, nw_info), None)):
        cases.append(Case(point, args, kwargs, rv))
    return cases


def hook_class(scenario: str, point: HookPoint) -> type:
    if scenario == 'bare':
        return Bare
    base = NormalizeHook if scenario == 'normalize' else NoopHook
    return type('%s_%s' % (base.__name__, point.value), (base,),
                {'hook_point': point})


def run_direct(cls: type, case: Case, n: int) -> int:
    """``n`` calls as Nova's runner makes them; returns elapsed ns."""
    args, kwargs, rv = case.args, case.kwargs, case.rv
    start = time.perf_counter_ns()
    for _ in range(n):
        obj = cls()
        pre = getattr(obj, 'pre', None)
        if pre:
            pre(*args, **kwargs)
        post = getattr(obj, 'post', None)
        if post:
            post(rv, *args, **kwargs)
    return time.perf_counter_ns() - start


def run_runner(cls: type, case: Case, n: int) -> int:
    """``n`` calls through ``NovaRunner``; returns elapsed ns."""
    name, args, kwargs, rv = case.point.value, case.args, case.kwargs, case.rv
    runner = NovaRunner({name: [cls]}, record=False)

    def function(*a: Any, **k: Any) -> Any:
        return rv

    start = time.perf_counter_ns()
    for _ in range(n):
        runner.call(name, function, *args, **kwargs)
    elapsed = time.perf_counter_ns() - start
    runner.runs.clear()
    return elapsed


RUNNERS: Dict[str, Callable[[type, Case, int], int]] = {
    'direct': run_direct, 'runner': run_runner}


def measure(run: Callable[[type, Case, int], int], cls: type, case: Case,
            rounds: int, round_seconds: float) -> Tuple[float, float, int]:
    """Best and median µs per call over ``rounds`` rounds of n calls."""
    n = 1
    while True:   # calibrate (and warm up): a round of about round_seconds
        elapsed = run(cls, case, n)
        if elapsed >= round_seconds * 1e9 / 10:
            break
        n *= 2
    n = max(1, int(n * round_seconds * 1e9 / elapsed))
    gc.collect()
    per_call = [run(cls, case, n) / n / 1000.0 for _ in range(rounds)]
    return min(per_call), statistics.median(per_call), n


def check_outcomes(cls: type, case: Case, enabled: bool) -> None:
    """Fail loudly if a handler errors: its timing would mean nothing."""
    records: List[timing.CallRecord] = []
    timing.add_listener(records.append)
    try:
        run_direct(cls, case, 1)
    finally:
        timing.remove_listener(records.append)
    outcomes = [r.outcome for r in records]
    expected = ['ok', 'ok'] if enabled else []
    if outcomes != expected:
        raise RuntimeError('%s on %s: outcomes %s, expected %s'
                           % (cls.__name__, case.point.value, outcomes,
                              expected))


def load_config(directory: str, plugins: str) -> None:
    path = os.path.join(directory, 'novahooks-%s.conf' % plugins)
    with open(path, 'w') as conf:
        conf.write('[DEFAULT]\nenabled_plugins = %s\nstate_dir = %s\n'
                   % (plugins, os.path.join(directory, 'state')))
    config.reset()
    config.load(path)


def run_all(rounds: int, round_seconds: float) -> List[Result]:
    results: List[Result] = []
    with tempfile.TemporaryDirectory(prefix='novahooks-bench-') as tmp:
        for case in make_cases():
            for scenario in SCENARIOS:
                cls = hook_class(scenario, case.point)
                load_config(tmp, 'audit' if scenario == 'disabled'
                            else 'bench')
                if scenario != 'bare':
                    check_outcomes(cls, case, scenario != 'disabled')
                for mode in MODES:
                    listeners = len(timing._listeners)   # 0: the default
                    best, med, n = measure(RUNNERS[mode], cls, case, rounds,
                                           round_seconds)
                    results.append(Result(case.point.value, scenario, mode,
                                          round(best, 3), round(med, 3), n,
                                          listeners))
        config.reset()
    bare = {(r.point, r.mode): r.us_best for r in results
            if r.scenario == 'bare'}
    for r in results:
        r.ratio = round(r.us_best / bare[(r.point, r.mode)], 3)
    return results


def verdicts(results: List[Result]) -> List[Dict[str, Any]]:
    """The targets, per mode, judged on this run's best rounds."""
    out: List[Dict[str, Any]] = []
    for mode in MODES:
        rows = [r for r in results if r.mode == mode]
        create = next(r for r in rows if r.scenario == 'normalize'
                      and r.point == HookPoint.CREATE_INSTANCE.value)
        out.append({'what': 'create_instance full normalization (pre+post)',
                    'mode': mode, 'value': create.us_best, 'unit': 'us',
                    'target': targets.CREATE_ADDED_US.limit,
                    'met': targets.CREATE_ADDED_US.met(create.us_best),
                    'judged': targets.CREATE_ADDED_US.judged(
                        create.us_best)})
        for scenario in ('noop', 'disabled'):
            worst = max((r for r in rows if r.scenario == scenario),
                        key=lambda r: r.ratio)
            out.append({'what': '%s vs bare, worst hook point (%s)'
                                % (scenario, worst.point),
                        'mode': mode, 'value': worst.ratio, 'unit': 'x',
                        'target': targets.NOOP_RATIO.limit,
                        'met': targets.NOOP_RATIO.met(worst.ratio),
                        'judged': targets.NOOP_RATIO.judged(worst.ratio)})
    return out


def environment(rounds: int, round_seconds: float,
                results: List[Result]) -> Dict[str, Any]:
    from importlib import metadata
    versions = {d: metadata.version(d) for d in
                ('stevedore', 'oslo.config', 'oslo.utils', 'oslo.log')}
    return {'python': platform.python_version(),
            'implementation': platform.python_implementation(),
            'executable': sys.executable, 'libraries': versions,
            'rounds': rounds, 'round_seconds': round_seconds,
            'statistic': 'best round (median also given)',
            # Measured with the default, empty listener list; the runner
            # itself registers one listener around each hook call.
            'timing_listeners': max(r.timing_listeners for r in results)}


def print_report(env: Dict[str, Any], results: List[Result],
                 judged: List[Dict[str, Any]]) -> None:
    print('novahooks_core per-call cost (pre+post): Python %s, %s; %s; '
          'best of %d rounds of ~%.2f s'
          % (env['python'], env['executable'],
             ', '.join('%s %s' % kv for kv in env['libraries'].items()),
             env['rounds'], env['round_seconds']))
    print('timing listeners registered before measuring: %d (the runner '
          'adds its own around each hook call)'
          % env['timing_listeners'])
    print()
    print('%-22s %-10s %11s %8s %11s %8s' % (
        'hook point', 'scenario', 'direct µs', 'x bare', 'runner µs',
        'x bare'))
    by_key = {(r.point, r.scenario, r.mode): r for r in results}
    for point in dict.fromkeys(r.point for r in results):
        for scenario in SCENARIOS:
            d = by_key[(point, scenario, 'direct')]
            n = by_key[(point, scenario, 'runner')]
            print('%-22s %-10s %11.2f %8.2f %11.2f %8.2f' % (
                point, scenario, d.us_best, d.ratio, n.us_best, n.ratio))
    print()
    for t in judged:
        value = ('%.1f µs' if t['unit'] == 'us' else '%.2fx') % t['value']
        print('%-6s %-66s %-10s %s' % (
            t['mode'], t['what'], value, t['judged']))


def nova_manager_us(rounds: int) -> float:
    """What Nova itself pays per hooked call before any hook runs: a new
    stevedore ``HookManager`` over the installed ``nova.hooks`` entry
    points (``nova/hooks.py``'s ``_HOOKS.setdefault`` quirk)."""
    return per_call_us(lambda: stevedore_hook.HookManager(
        'nova.hooks', 'build_instance', invoke_on_load=True), rounds, 20)


def print_context(manager_us: float, results: List[Result]) -> None:
    by_key = {(r.point, r.scenario, r.mode): r for r in results}
    worst = max((by_key[(r.point, 'noop', 'direct')].us_best
                 - by_key[(r.point, 'bare', 'direct')].us_best)
                for r in results)
    print()
    print('context: Nova builds a stevedore HookManager over the installed '
          'nova.hooks entry points on every hooked call: %.1f µs here. The '
          'worst no-op overhead above (%.1f µs per pre+post) is %.1f%% of '
          'that.' % (manager_us, worst, 100.0 * worst / manager_us))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description='Per-call cost of NovaHook against a bare hook class.')
    parser.add_argument('--quick', action='store_true',
                        help='short rounds (about 5 s in all), for smoke '
                             'tests; numbers are noisier')
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--json', action='store_true',
                        help='print the results as JSON')
    opts = parser.parse_args(argv)
    round_seconds = 0.015 if opts.quick else 0.2
    results = run_all(opts.rounds, round_seconds)
    env = environment(opts.rounds, round_seconds, results)
    judged = verdicts(results)
    if opts.json:
        print(json.dumps({'environment': env,
                          'results': [dataclasses.asdict(r)
                                      for r in results],
                          'targets': judged}, indent=2))
    else:
        print_report(env, results, judged)
        print_context(nova_manager_us(opts.rounds), results)
    return 0


if __name__ == '__main__':
    sys.exit(main())
