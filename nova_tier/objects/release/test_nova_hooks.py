"""Our hook classes run by a real release's ``nova.hooks`` (all releases,
15 to 18 included), around stand-ins with that release's signatures.

Arguments come from ``novahooks_core.lifecycle.factories`` for the release
(Nova's objects of 15 to 18 do not import on Python 3.7+; the object
tests of 19-21 use Nova's own classes).
"""

import hashlib
from importlib import metadata
import inspect
import logging
import pathlib
import types
from typing import Any, Callable, Dict, Iterator, List, Tuple

import nova_probe
from nova_source import hooked_by_point
import pytest

from novahooks_core import HookPoint, Phase, config
from novahooks_core.containment import isolation, timing
from novahooks_core.runner import NovaRunner
from novahooks_core.testing import factories, fakes

# DESIGN.md: nova/hooks.py is byte-identical from 15.1.5 to 21.2.4.
HOOKS_PY_SHA256 = ('da4351176e747d284a0a429dfa456f3125071b56ce0416a4840'
                   '28ff7fd297cb2')


@pytest.fixture(autouse=True)
def _probe(nova_hooks: types.ModuleType) -> Iterator[None]:
    nova_probe.reset()
    yield
    nova_probe.reset()


def test_hooks_module_is_the_one_described(
        nova_hooks: types.ModuleType) -> None:
    data = pathlib.Path(str(nova_hooks.__file__)).read_bytes()
    assert hashlib.sha256(data).hexdigest() == HOOKS_PY_SHA256
    assert isolation.fatal_exception_class() is (
        nova_hooks.FatalHookException)


# Stand-ins for the hooked functions. Those with parameters that changed
# between releases are spelled out; each must match the release's source.


def delete_instance_15(self: Any, context: Any, instance: Any, bdms: Any,
                       quotas: Any) -> None:
    instance.vm_state, instance.task_state = 'deleted', None


def delete_instance(self: Any, context: Any, instance: Any,
                    bdms: Any) -> None:
    instance.vm_state, instance.task_state = 'deleted', None


def update_cache_19(impl: Any, context: Any, instance: Any,
                    nw_info: Any = None, update_cells: bool = True) -> None:
    if isinstance(nw_info, list):
        instance.info_cache.network_info = fakes.NetworkInfo(nw_info)


def update_cache(impl: Any, context: Any, instance: Any,
                 nw_info: Any = None) -> None:
    if isinstance(nw_info, list):
        instance.info_cache.network_info = fakes.NetworkInfo(nw_info)


def _bound_stand_in(params: Tuple[str, ...], result: Any
                    ) -> Callable[..., Any]:
    """A stand-in accepting exactly the release's parameters."""
    signature = inspect.Signature([
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                          default=None if i >= 4 else
                          inspect.Parameter.empty)
        for i, name in enumerate(params)])

    def stand_in(*args: Any, **kwargs: Any) -> Any:
        signature.bind(*args, **kwargs)
        return result
    stand_in.__signature__ = signature  # type: ignore[attr-defined]
    return stand_in


def stand_ins(major: int) -> Dict[HookPoint, Callable[..., Any]]:
    source = hooked_by_point()
    spelled = {
        HookPoint.DELETE_INSTANCE: (delete_instance_15 if major <= 15
                                    else delete_instance),
        HookPoint.INSTANCE_NETWORK_INFO: (update_cache_19 if major <= 19
                                          else update_cache),
    }
    for point, function in spelled.items():
        assert tuple(inspect.signature(function).parameters) == (
            source[point].params), point
    created = [factories.instance(release=major)]
    return dict(spelled, **{
        HookPoint.CREATE_INSTANCE: _bound_stand_in(
            source[HookPoint.CREATE_INSTANCE].params,
            (created, 'r-0000abcd')),
        HookPoint.BUILD_INSTANCE: _bound_stand_in(
            source[HookPoint.BUILD_INSTANCE].params, 'active'),
    })


def calls(major: int, inst: Any) -> Dict[HookPoint, Tuple[Any, ...]]:
    """The factories' arguments of each hook point for this release."""
    nw = factories.network_info(factories.vif(ipv6='fd00:10::5'))
    return {
        HookPoint.CREATE_INSTANCE: factories.create_instance_args(major),
        HookPoint.BUILD_INSTANCE: factories.build_instance_args(
            inst, major),
        HookPoint.DELETE_INSTANCE: factories.delete_instance_args(
            inst, major),
        HookPoint.INSTANCE_NETWORK_INFO:
            factories.instance_network_info_args(inst, nw, major),
    }


def expected_releases(point: HookPoint, major: int) -> Tuple[int, int]:
    if point is HookPoint.CREATE_INSTANCE:
        return (max(15, min(major, 20)), 21)
    if point is HookPoint.BUILD_INSTANCE:
        return ((12, 16) if major <= 16 else (21, 21) if major >= 21
                else (17, 20))
    if point is HookPoint.DELETE_INSTANCE:
        return (12, 15) if major <= 15 else (16, 21)
    return (12, 19) if major <= 19 else (12, 21)


def wrapped(nova_hooks: types.ModuleType, point: HookPoint,
            function: Callable[..., Any]) -> Callable[..., Any]:
    return nova_hooks.add_hook(point.value)(function)


@pytest.mark.parametrize('point', list(HookPoint), ids=lambda p: p.value)
def test_events_are_bound_by_the_release_signature(
        nova_hooks: types.ModuleType, major: int, point: HookPoint) -> None:
    nova_probe.install(nova_hooks, {point.value: [
        nova_probe.for_point(nova_probe.Probe, point)]})
    inst = factories.instance(state='active', host='compute-1',
                              release=major)
    args, kwargs = calls(major, inst)[point]
    function = wrapped(nova_hooks, point, stand_ins(major)[point])

    rv = function(*args, **kwargs)

    pre, post = nova_probe.Probe.seen
    assert [s.event.phase for s in (pre, post)] == [Phase.PRE, Phase.POST]
    assert post.event.raw_result is rv
    for seen in (pre, post):
        text = repr(seen.normalized) + repr(seen.primitive)
        assert [s for s in factories.SECRETS.values() if s in text] == []
    for seen in (pre, post):
        assert seen.event.hook is point
        assert seen.normalized['nova_releases'] == expected_releases(
            point, major)
        assert seen.event.raw_call.positional == len(args)
        assert set(seen.event.raw_call.keywords) == set(kwargs)
        assert seen.normalized['request'].project_id == 'project-a'
    if point is HookPoint.CREATE_INSTANCE:
        request = pre.event.create_request
        assert request is not None and request.display_name == 'web 1'
        assert post.event.reservation_id == 'r-0000abcd'
        assert len(post.event.instances) == 1
    else:
        instance = post.event.instance
        assert instance is not None and instance.uuid == inst.uuid
    if point is HookPoint.DELETE_INSTANCE:
        assert ('quotas' in pre.event.raw_call.values) == (major <= 15)
        assert pre.normalized['instances'][0].vm_state == 'active'
        assert post.normalized['instances'][0].vm_state == 'deleted'
    if point is HookPoint.INSTANCE_NETWORK_INFO:
        assert ('update_cells' in pre.event.raw_call.values) == (major <= 19)
        network = post.event.network_info
        assert network is not None
        assert [ip.address for ip in network.fixed_ips] == [
            '10.0.0.5', 'fd00:10::5']
    if point is HookPoint.BUILD_INSTANCE:
        assert post.event.result == 'active'
        assert len(args) == len(hooked_by_point()[point].params)


def test_ordinary_handler_errors_stay_inside_the_hook(
        nova_hooks: types.ModuleType, major: int,
        caplog: pytest.LogCaptureFixture) -> None:
    point = HookPoint.DELETE_INSTANCE
    nova_probe.install(nova_hooks, {point.value: [
        nova_probe.for_point(nova_probe.Broken, point),
        nova_probe.for_point(nova_probe.Probe, point)]})
    inst = factories.instance(state='active', release=major)
    args, kwargs = calls(major, inst)[point]
    records: List[timing.CallRecord] = []
    timing.add_listener(records.append)
    try:
        assert wrapped(nova_hooks, point, stand_ins(major)[point])(
            *args, **kwargs) is None
    finally:
        timing.remove_listener(records.append)

    assert inst.vm_state == 'deleted'  # Nova's function ran
    assert nova_probe.Broken.calls == [Phase.PRE, Phase.POST]
    assert [s.event.phase for s in nova_probe.Probe.seen] == [
        Phase.PRE, Phase.POST]  # the next hook ran too
    assert [r.outcome for r in records if r.name.startswith(
        'nova-tier:delete_instance')] == ['error', 'ok', 'error', 'ok']
    # Nothing reached Nova's runner: it logged no exception.
    assert not [r for r in caplog.records if r.name == 'nova.hooks'
                and r.levelno >= logging.ERROR]


class RawRecorder:
    """A plain hook class (not ours): Nova's protocol only."""

    log: List[Tuple[str, str, Tuple[Any, ...], Dict[str, Any]]] = []

    def pre(self, *args: Any, **kwargs: Any) -> None:
        RawRecorder.log.append((type(self).__name__, 'pre', args, kwargs))

    def post(self, *args: Any, **kwargs: Any) -> None:
        RawRecorder.log.append((type(self).__name__, 'post', args, kwargs))


class RawFirst(RawRecorder):
    pass


class RawLast(RawRecorder):
    pass


class RawRaises(RawRecorder):
    def pre(self, *args: Any, **kwargs: Any) -> None:
        super().pre(*args, **kwargs)
        raise RuntimeError('raw hook bug')


class RawNoPre(RawRecorder):
    pre = None  # type: ignore[assignment]


def _raw_fatal(nova_hooks: types.ModuleType, phase: str) -> type:
    def fail(self: Any, *args: Any, **kwargs: Any) -> None:
        RawRecorder.log.append(('RawFatal', phase, args, kwargs))
        raise nova_hooks.FatalHookException('stop')
    return type('RawFatal', (RawRecorder,), {phase: fail})


def _run_both(nova_hooks: types.ModuleType, classes: List[type],
              function: Callable[..., Any], *args: Any, **kwargs: Any
              ) -> List[Tuple[Any, list]]:
    """The same call through Nova's add_hook and our NovaRunner: what
    each returned or raised, and what the hooks saw."""
    outcomes = []
    for runner in ('nova', 'ours'):
        RawRecorder.log.clear()
        nova_hooks.reset()
        try:
            if runner == 'nova':
                nova_probe.install(nova_hooks, {'build_instance': classes})
                result: Any = nova_hooks.add_hook('build_instance')(
                    function)(*args, **kwargs)
            else:
                result = NovaRunner({'build_instance': classes}).call(
                    'build_instance', function, *args, **kwargs)
        except Exception as exc:
            result = (type(exc), str(exc))
        outcomes.append((result, list(RawRecorder.log)))
    return outcomes


@pytest.mark.parametrize('scenario', [
    'ok', 'raw_error', 'fatal_pre', 'fatal_post', 'function_raises'])
def test_our_runner_has_novas_semantics(nova_hooks: types.ModuleType,
                                        scenario: str) -> None:
    """``novahooks_core.testing.NovaRunner`` against the real thing."""
    ran: List[int] = []

    def function(*args: Any, **kwargs: Any) -> str:
        ran.append(1)
        if scenario == 'function_raises':
            raise ValueError('compute failed')
        return 'active'

    scenarios: Dict[str, List[type]] = {
        'ok': [RawFirst, RawNoPre, RawLast],
        'raw_error': [RawFirst, RawRaises, RawLast],
        'fatal_pre': [RawFirst, _raw_fatal(nova_hooks, 'pre'), RawLast],
        'fatal_post': [RawFirst, _raw_fatal(nova_hooks, 'post'), RawLast],
        'function_raises': [RawFirst, RawLast],
    }
    classes = scenarios[scenario]
    nova_result, ours_result = _run_both(
        nova_hooks, classes, function, 'self', 'ctx', node='node-1')
    assert ours_result == nova_result
    expected_result = {
        'ok': 'active', 'raw_error': 'active',
        'fatal_pre': (nova_hooks.FatalHookException, 'stop'),
        'fatal_post': (nova_hooks.FatalHookException, 'stop'),
        'function_raises': (ValueError, 'compute failed')}[scenario]
    assert nova_result[0] == expected_result
    assert len(ran) == (0 if scenario == 'fatal_pre' else 2)


@pytest.mark.parametrize('point', [HookPoint.CREATE_INSTANCE,
                                   HookPoint.BUILD_INSTANCE],
                         ids=lambda p: p.value)
def test_veto_becomes_novas_fatal_hook_exception(
        nova_hooks: types.ModuleType, major: int, point: HookPoint,
        caplog: pytest.LogCaptureFixture) -> None:
    nova_probe.install(nova_hooks, {point.value: [
        nova_probe.for_point(nova_probe.Refuser, point),
        nova_probe.for_point(nova_probe.Probe, point)]})
    inst = factories.instance(release=major)
    args, kwargs = calls(major, inst)[point]
    ran: List[int] = []
    stand_in = stand_ins(major)[point]

    def function(*a: Any, **k: Any) -> Any:
        ran.append(1)
        return stand_in(*a, **k)

    with pytest.raises(nova_hooks.FatalHookException) as caught:
        wrapped(nova_hooks, point, function)(*args, **kwargs)

    assert type(caught.value) is nova_hooks.FatalHookException
    assert str(caught.value) == 'flavor m1.large is not allowed in project-a'
    assert ran == [] and nova_probe.Probe.seen == []
    assert [r.getMessage() for r in caplog.records
            if r.name == 'nova.hooks' and r.levelno >= logging.ERROR] == [
        'Fatal Exception running %s pre-hook: %s'
        % (point.value, nova_hooks._HOOKS[point.value].extensions[0].obj)]


def _write_config(text: str) -> None:
    path = pathlib.Path(config.config_file()[0])
    path.write_text(text + '\nstate_dir = %s\n' % (path.parent / 'state'))
    config.reset()


@pytest.mark.parametrize('allowed,point', [
    (False, HookPoint.CREATE_INSTANCE), (True, HookPoint.DELETE_INSTANCE)],
    ids=['allow_veto-off', 'delete-pre'])
def test_veto_is_only_logged_otherwise(nova_hooks: types.ModuleType,
                                       major: int, allowed: bool,
                                       point: HookPoint) -> None:
    _write_config('[DEFAULT]\nenabled_plugins = nova-tier\nallow_veto = %s'
                  % allowed)
    nova_probe.install(nova_hooks, {point.value: [
        nova_probe.for_point(nova_probe.Refuser, point),
        nova_probe.for_point(nova_probe.Probe, point)]})
    inst = factories.instance(release=major)
    args, kwargs = calls(major, inst)[point]

    wrapped(nova_hooks, point, stand_ins(major)[point])(*args, **kwargs)

    assert [s.event.phase for s in nova_probe.Probe.seen] == [
        Phase.PRE, Phase.POST]


@pytest.mark.parametrize('point', list(HookPoint), ids=lambda p: p.value)
def test_novas_manager_loads_our_entry_points(nova_hooks: types.ModuleType,
                                              point: HookPoint) -> None:
    """Nova's own HookManager loads (and builds, with no arguments) the
    ``nova.hooks`` entry points this project's installed distribution
    declares for the hook point; nothing else in the venv declares any."""
    ours = sorted(
        entry.value for entry in metadata.distribution('novahooks')
        .entry_points if entry.group == 'nova.hooks'
        and entry.name == point.value)
    assert len(ours) == 1

    manager = nova_hooks.HookManager(point.value)

    assert sorted(e.entry_point.value for e in manager.extensions) == ours
    assert all(type(e.obj) is e.plugin for e in manager.extensions)


def test_audit_runs_inside_novas_hooks(nova_hooks: types.ModuleType,
                                       major: int,
                                       caplog: pytest.LogCaptureFixture
                                       ) -> None:
    """No injection: Nova loads the audit hooks from their entry points
    and the audit plugin logs the delete."""
    _write_config('[DEFAULT]\nenabled_plugins = audit')
    caplog.set_level(logging.INFO, logger='novahooks_core.audit')
    point = HookPoint.DELETE_INSTANCE
    inst = factories.instance(state='active', host='compute-1',
                              release=major)
    args, kwargs = calls(major, inst)[point]

    wrapped(nova_hooks, point, stand_ins(major)[point])(*args, **kwargs)

    assert [r.getMessage() for r in caplog.records
            if r.name == 'novahooks_core.audit'] == [
        'novahooks audit: deleted %s from compute-1' % inst.uuid]
    assert type(nova_hooks._HOOKS[point.value]) is nova_hooks.HookManager
