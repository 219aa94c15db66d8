"""novahooks inside a monkey-patched process, as in Nova's eventlet services.

Everything runs in a subprocess that calls ``eventlet.monkey_patch()``
before importing anything else, as ``nova-compute`` and ``nova-api`` do,
then prints a JSON summary that the tests below check:

1. many green threads use a hook for the first time at once: the
   configuration is loaded once, and all of them see the same object;
2. a whole lifecycle through the installed ``nova.hooks`` entry points;
3. concurrent lifecycles in a ``GreenPool``, with handlers that yield mid-way
   so the green threads interleave: every call is counted exactly, with no
   errors, and every instance's events reach its own handler calls;
4. a network info whose allocation still runs (like Nova's
   ``NetworkInfoAsyncWrapper``: reading it waits) must not be waited for.
"""

import json
import os
import subprocess
import sys
import textwrap
from typing import Any, Dict

import pytest

from novahooks_core.testing import RELEASES

GREEN_THREADS = 50
COUNT = 2  # instances per concurrent lifecycle
PENDING_TIMEOUT = 10.0  # seconds before a blocked hook counts as blocked

SCRIPT = textwrap.dedent('''
    import eventlet
    eventlet.monkey_patch()

    import collections
    import dataclasses
    import json
    import sys
    import time

    import eventlet.event
    import eventlet.patcher

    from novahooks_core import NovaHook, audit, config
    from novahooks_core.containment import timing
    from novahooks_core.models import HookPoint
    from novahooks_core.testing import (
        RELEASES, NovaRunner, factories, fakes, run_lifecycle)

    GREEN_THREADS, COUNT = int(sys.argv[1]), int(sys.argv[2])
    PENDING_TIMEOUT = float(sys.argv[3])

    loads = []
    real_load = config.load


    def counting_load(*args, **kwargs):
        loads.append(1)
        return real_load(*args, **kwargs)


    config.load = counting_load

    seen = []
    last = {}
    flight = {'now': 0, 'max': 0}


    class GreenHook(NovaHook):
        plugin_name = 'green'

        def handle_pre(self, event):
            return self._handle(event)

        def handle_post(self, event):
            return self._handle(event)

        def _handle(self, event):
            flight['now'] += 1
            flight['max'] = max(flight['max'], flight['now'])
            try:
                data = event.normalize_all()
                eventlet.sleep(0)  # let the other green threads run
                json.dumps(data)
                seen.append((event.hook.value, event.phase.value,
                             event.instance_uuid))
                last[event.hook.value, event.phase.value] = data
                return 'ok'
            finally:
                flight['now'] -= 1


    class GreenCreate(GreenHook):
        hook_point = HookPoint.CREATE_INSTANCE


    class GreenBuild(GreenHook):
        hook_point = HookPoint.BUILD_INSTANCE


    class GreenDelete(GreenHook):
        hook_point = HookPoint.DELETE_INSTANCE


    class GreenNetworkInfo(GreenHook):
        hook_point = HookPoint.INSTANCE_NETWORK_INFO


    HOOKS = {
        'create_instance': [GreenCreate, audit.AuditCreateInstance],
        'build_instance': [GreenBuild, audit.AuditBuildInstance],
        'delete_instance': [GreenDelete, audit.AuditDeleteInstance],
        'instance_network_info': [GreenNetworkInfo,
                                  audit.AuditInstanceNetworkInfo],
    }


    def stats():
        return {name: dataclasses.asdict(entry)
                for name, entry in sorted(timing.snapshot().items())}


    summary = {'patched': eventlet.patcher.is_monkey_patched('thread')}

    # 1. First use of a hook from many green threads at once.
    start = eventlet.event.Event()
    waiting = []


    def first_use(index):
        waiting.append(index)
        start.wait()
        entry = GreenBuild().pre  # reads the configuration on first use
        return config.get(), entry is not None


    pool = eventlet.GreenPool(GREEN_THREADS)
    threads = [pool.spawn(first_use, i) for i in range(GREEN_THREADS)]
    eventlet.sleep(0)
    summary['config'] = {'loads_before_first_use': len(loads),
                         'waiting_at_start': len(waiting)}
    start.send(True)
    results = [thread.wait() for thread in threads]
    confs = [conf for conf, _ in results]
    summary['config'].update(
        loads=len(loads), distinct=len({id(conf) for conf in confs}),
        same_as_get=all(conf is config.get() for conf in confs),
        enabled_in=sum(enabled for _, enabled in results),
        enabled=sorted(config.enabled_plugins()),
        load_error=config.load_error())

    # 2. A lifecycle through the installed nova.hooks entry points.
    timing.reset()
    runner = NovaRunner()
    run_lifecycle(runner)
    summary['installed'] = {
        'stats': stats(),
        'targets': sorted({run.target for run in runner.runs}),
        'outcomes': sorted({run.outcome for run in runner.runs})}

    # 3. Concurrent lifecycles, one per release shape.
    timing.reset()
    del seen[:]


    def lifecycle(release):
        runner = NovaRunner(HOOKS)
        instances = run_lifecycle(runner, release=release, count=COUNT)
        return ([run.outcome for run in runner.runs],
                [inst.uuid for inst in instances])


    results = list(eventlet.GreenPool(len(RELEASES)).imap(lifecycle,
                                                          RELEASES))
    events = collections.defaultdict(collections.Counter)
    for hook, phase, uuid in seen:
        if uuid is not None:
            events[uuid]['%s:%s' % (hook, phase)] += 1
    summary['concurrent'] = {
        'stats': stats(),
        'outcomes': sorted({o for outcomes, _ in results for o in outcomes}),
        'instances': sorted(u for _, uuids in results for u in uuids),
        'events': {uuid: dict(counter) for uuid, counter in events.items()},
        'unattributed': sum(1 for _, _, uuid in seen if uuid is None),
        'max_in_flight': flight['max'],
    }


    # 4. A network info whose allocation still runs.
    class BlockingPending(fakes.PendingNetworkInfo):
        """Like NetworkInfoAsyncWrapper: reading it waits for allocation."""

        def wait(self, do_raise=True):
            if self._gt is not None:
                self[:] = self._gt.wait()
                self._gt = None

        def __iter__(self):
            self.wait()
            return super().__iter__()

        def __len__(self):
            self.wait()
            return super().__len__()

        def __getitem__(self, index):
            self.wait()
            return super().__getitem__(index)

        def json(self):
            self.wait()
            return super().json()


    allocated = eventlet.event.Event()


    def allocate():
        allocated.wait()
        return [factories.vif(address='10.0.0.99')]


    def pending_network_info():
        pending = BlockingPending([])
        pending._gt = eventlet.spawn(allocate)
        return pending


    def blocks(function, seconds=PENDING_TIMEOUT):
        timer = eventlet.Timeout(seconds)
        try:
            function()
        except eventlet.Timeout as exc:
            if exc is not timer:
                raise
            return True
        finally:
            timer.cancel()
        return False


    # The control: reading the stand-in does block.
    probe = pending_network_info()
    probe_blocks = blocks(lambda: len(probe), 0.2)

    timing.reset()
    last.clear()
    pending = pending_network_info()
    inst = factories.instance(host='compute-1',
                              network=[factories.vif(address='10.0.0.7')])
    args, kwargs = factories.instance_network_info_args(inst, pending)
    runner = NovaRunner(HOOKS)
    started = time.monotonic()
    blocked = blocks(lambda: runner.call(
        'instance_network_info', lambda *a, **k: None, *args, **kwargs))
    seconds = time.monotonic() - started
    still_pending = pending._gt is not None
    allocated.send(True)
    pending.wait()
    probe.wait()
    summary['pending'] = {
        'probe_blocks': probe_blocks,
        'blocked': blocked,
        'seconds': seconds,
        'still_pending': still_pending,
        'stats': stats(),
        'outcomes': [run.outcome for run in runner.runs],
        'network_info': {
            phase: last[('instance_network_info', phase)]['network_info']
            for phase in ('pre', 'post')
            if ('instance_network_info', phase) in last},
        'allocated': [ip['address'] for vif in pending
                      for subnet in vif['network']['subnets']
                      for ip in subnet['ips']],
    }

    print(json.dumps(summary, sort_keys=True))
''')


@pytest.fixture(scope='module')
def summary(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """Run the script once, with a configuration enabling its plugins."""
    tmp = tmp_path_factory.mktemp('eventlet')
    conf = tmp / 'novahooks.conf'
    conf.write_text('[DEFAULT]\nenabled_plugins = green,audit\n'
                    'state_dir = %s\n[audit]\nnetwork_info = true\n'
                    % (tmp / 'state'))
    env = dict(os.environ, NOVAHOOKS_CONFIG=str(conf))
    proc = subprocess.run(
        [sys.executable, '-c', SCRIPT, str(GREEN_THREADS), str(COUNT),
         str(PENDING_TIMEOUT)],
        env=env, cwd=str(tmp), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-6000:]
    lines = proc.stdout.strip().splitlines()
    assert lines, 'no summary printed; stderr:\n%s' % proc.stderr[-6000:]
    result: Dict[str, Any] = json.loads(lines[-1])
    return result


def assert_no_failures(stats: Dict[str, Dict[str, Any]]) -> None:
    failures = {name: {k: s[k] for k in ('errors', 'bad_input', 'vetoes')}
                for name, s in stats.items()
                if s['errors'] or s['bad_input'] or s['vetoes']}
    assert failures == {}


def test_process_is_monkey_patched(summary: Dict[str, Any]) -> None:
    assert summary['patched'] is True


def test_first_use_from_many_green_threads_loads_config_once(
        summary: Dict[str, Any]) -> None:
    config = summary['config']
    assert config['loads_before_first_use'] == 0
    assert config['waiting_at_start'] == GREEN_THREADS
    assert config['loads'] == 1
    assert config['distinct'] == 1
    assert config['same_as_get'] is True
    assert config['enabled_in'] == GREEN_THREADS
    assert config['enabled'] == ['audit', 'green']
    assert config['load_error'] is None


def test_lifecycle_through_installed_entry_points(
        summary: Dict[str, Any]) -> None:
    installed = summary['installed']
    assert installed['targets']  # the nova.hooks entry points loaded
    audit_calls = {name: s['calls'] for name, s in installed['stats'].items()
                   if name.startswith('audit:')}
    assert audit_calls == {
        'audit:create_instance:pre': 1, 'audit:create_instance:post': 1,
        'audit:build_instance:post': 1, 'audit:delete_instance:post': 1,
        'audit:instance_network_info:post': 3}
    # "green" is this test's own classes, installed by no entry point:
    # through the entry points it is an enabled plugin that no installed
    # plugin has, said (and counted) once.
    stats = dict(installed['stats'])
    assert stats.pop('green:load')['errors'] == 1
    assert_no_failures(stats)
    assert set(installed['outcomes']) <= {'ok', 'skipped'}


def expected_concurrent_calls(lifecycles: int) -> Dict[str, int]:
    per_hook = {'create_instance': lifecycles,
                'build_instance': lifecycles * COUNT,
                'delete_instance': lifecycles * COUNT,
                'instance_network_info': 3 * lifecycles * COUNT}
    calls = {}
    for hook, count in per_hook.items():
        calls['green:%s:pre' % hook] = count
        calls['green:%s:post' % hook] = count
        calls['audit:%s:post' % hook] = count
    calls['audit:create_instance:pre'] = lifecycles
    return calls


def test_concurrent_lifecycles_are_counted_exactly(
        summary: Dict[str, Any]) -> None:
    concurrent = summary['concurrent']
    calls = {name: s['calls'] for name, s in concurrent['stats'].items()}
    assert calls == expected_concurrent_calls(len(RELEASES))
    assert_no_failures(concurrent['stats'])
    assert concurrent['outcomes'] == ['ok', 'skipped']
    # The handlers did interleave across green threads.
    assert concurrent['max_in_flight'] > 1


def test_each_instance_sees_exactly_its_own_events(
        summary: Dict[str, Any]) -> None:
    concurrent = summary['concurrent']
    instances = concurrent['instances']
    assert len(instances) == len(set(instances)) == len(RELEASES) * COUNT
    assert sorted(concurrent['events']) == instances
    expected = {'build_instance:pre': 1, 'build_instance:post': 1,
                'instance_network_info:pre': 3,
                'instance_network_info:post': 3,
                'delete_instance:pre': 1, 'delete_instance:post': 1}
    for uuid, events in concurrent['events'].items():
        assert events == expected, uuid
    # Only create_instance events have no instance UUID (yet).
    assert concurrent['unattributed'] == 2 * len(RELEASES)


def test_pending_network_info_is_not_waited_for(
        summary: Dict[str, Any]) -> None:
    pending = summary['pending']
    assert pending['probe_blocks'] is True  # the stand-in does block
    assert pending['blocked'] is False
    assert pending['still_pending'] is True
    assert pending['seconds'] < PENDING_TIMEOUT
    # Unknown (None), not empty and not waited for, in both phases.
    assert pending['network_info'] == {'pre': None, 'post': None}
    calls = {name: s['calls'] for name, s in pending['stats'].items()}
    assert calls == {'green:instance_network_info:pre': 1,
                     'green:instance_network_info:post': 1,
                     'audit:instance_network_info:post': 1}
    assert_no_failures(pending['stats'])
    assert pending['outcomes'] == ['ok', 'skipped', 'ok', 'ok']
    assert pending['allocated'] == ['10.0.0.99']
