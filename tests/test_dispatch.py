"""The dispatcher behind novahooks' own nova.hooks entry points."""

from typing import Dict, List, Optional, Type

import pytest

from novahooks_core import (
    FatalHookException,
    HookEvent,
    HookPoint,
    NovaHook,
    Veto,
    config,
)
from novahooks_core.containment import timing
from novahooks_core.hooks import dispatch, registry
from novahooks_core.hooks.dispatch import (
    BuildInstance,
    CreateInstance,
    InstanceNetworkInfo,
)
from novahooks_core.testing import NovaRunner, factories, run_lifecycle
from tests.conftest import WriteConfig

EVENTS: List[HookEvent] = []


class First(NovaHook):
    plugin_name = 'first'
    hook_point = HookPoint.BUILD_INSTANCE

    def handle_post(self, event: HookEvent) -> Optional[str]:
        EVENTS.append(event)
        raise RuntimeError('first plugin is broken')


class Second(NovaHook):
    plugin_name = 'second'
    hook_point = HookPoint.BUILD_INSTANCE

    def handle_post(self, event: HookEvent) -> Optional[str]:
        EVENTS.append(event)
        return 'second saw %s' % event.result


class Refuse(NovaHook):
    plugin_name = 'refuse'
    hook_point = HookPoint.CREATE_INSTANCE

    def handle_pre(self, event: HookEvent) -> None:
        raise Veto('no more servers today')


@pytest.fixture(autouse=True)
def handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    EVENTS.clear()
    found: Dict[HookPoint, List[Type[NovaHook]]] = {p: [] for p in HookPoint}
    for cls in (First, Second, Refuse):
        assert cls.hook_point is not None
        found[cls.hook_point].append(cls)
    monkeypatch.setattr(registry, '_classes', found)


def test_nothing_enabled_means_nova_skips_the_dispatcher(
        write_config: WriteConfig) -> None:
    write_config(enabled_plugins='audit')
    assert BuildInstance().pre is None and BuildInstance().post is None
    write_config(enabled_plugins='second')
    assert BuildInstance().pre is None  # Second has no pre handler
    assert BuildInstance().post


def test_plugins_share_one_event_and_fail_alone(
        write_config: WriteConfig) -> None:
    write_config(enabled_plugins='first,second')
    runner = NovaRunner({'build_instance': [BuildInstance]})
    args, _ = factories.build_instance_args(factories.instance())
    assert runner.call('build_instance', lambda *a: 'active', *args) \
        == 'active'
    assert len(EVENTS) == 2 and EVENTS[0] is EVENTS[1]
    assert [(r.handler, r.outcome, r.summary) for r in runner.runs
            if r.phase == 'post'] == [
        ('first:build_instance:post', 'error', 'error: RuntimeError'),
        ('second:build_instance:post', 'ok', 'second saw active')]
    stats = timing.snapshot()
    assert stats['first:build_instance:post'].errors == 1
    assert stats['second:build_instance:post'].calls == 1


def test_a_veto_through_the_dispatcher(write_config: WriteConfig) -> None:
    write_config(enabled_plugins='refuse', allow_veto='true')
    runner = NovaRunner({'create_instance': [CreateInstance]})
    args, kwargs = factories.create_instance_args()
    with pytest.raises(FatalHookException, match='no more servers'):
        runner.call('create_instance', lambda *a, **k: ([], 'r'), *args,
                    **kwargs)


def test_the_installed_entry_points_dispatch_to_audit() -> None:
    dispatch.reset()  # load the real novahooks.hooks entry points
    classes = dispatch.handler_classes()
    assert {c.plugin_name for c in classes[HookPoint.BUILD_INSTANCE]} >= {
        'audit', 'dns'}
    runner = NovaRunner()  # stevedore over the installed nova.hooks
    run_lifecycle(runner)
    handlers = {r.handler for r in runner.runs if r.handler}
    assert 'audit:build_instance:post' in handlers
    assert not any(h.startswith('dns:') for h in handlers)  # disabled


class BrokenInit(NovaHook):
    plugin_name = 'broken'
    hook_point = HookPoint.BUILD_INSTANCE

    def __init__(self) -> None:
        raise RuntimeError('cannot even be built')

    def handle_post(self, event: HookEvent) -> Optional[str]:
        return 'never'


def test_a_handler_class_that_cannot_be_built_is_skipped_once(
        write_config: WriteConfig, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    dispatch.handler_classes()[HookPoint.BUILD_INSTANCE].insert(0,
                                                                BrokenInit)
    write_config(enabled_plugins='broken,second')
    runner = NovaRunner({'build_instance': [BuildInstance]})
    args, _ = factories.build_instance_args(factories.instance())
    for _ in range(3):  # Nova builds the dispatcher anew on every call
        assert runner.call('build_instance', lambda *a: 'active',
                           *args) == 'active'
    assert [r.summary for r in runner.runs if r.phase == 'post'] == [
        'second saw active'] * 3
    assert caplog.text.count('cannot build handler') == 1
    assert 'BrokenInit' in caplog.text
    assert timing.snapshot()['broken:build_instance:post'].errors == 1


def test_pre_and_post_never_raise_into_nova(
        write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nova's HookManager reads pre/post outside its try: whatever they
    call may fail, the property still answers."""
    write_config(enabled_plugins='second')

    def broken() -> None:
        raise RuntimeError('configuration exploded')
    monkeypatch.setattr(config, 'enabled_plugins', broken)
    dispatch._active.clear()
    assert BuildInstance().pre is None and BuildInstance().post is None
    monkeypatch.undo()
    dispatch.reset()
    timing.reset()

    def scan_fails(*args: object, **kwargs: object) -> None:
        raise RuntimeError('entry points unreadable')
    monkeypatch.setattr(registry.extension, 'ExtensionManager', scan_fails)
    assert BuildInstance().pre is None and BuildInstance().post is None
    assert timing.snapshot()['dispatch:build_instance:post'].errors == 1


def test_a_failing_timing_listener_does_not_escape_the_guard(
        write_config: WriteConfig) -> None:
    write_config(enabled_plugins='second')

    def listener(call: timing.CallRecord) -> None:
        raise RuntimeError('listener is broken')
    timing.add_listener(listener)
    try:
        args, _ = factories.build_instance_args(factories.instance())
        BuildInstance().post('active', *args)  # as Nova calls it
    finally:
        timing.remove_listener(listener)
    assert timing.snapshot()['second:build_instance:post'].calls == 1


def test_the_default_configuration_leaves_nova_s_heal_alone(
        write_config: WriteConfig) -> None:
    """Nova 21 logs a WARNING for every hook with a pre or post: with the
    defaults (audit only) the network-info dispatcher has neither."""
    dispatch.reset()  # the real novahooks.hooks entry points
    write_config()
    assert config.enabled_plugins() == frozenset(['audit'])
    assert InstanceNetworkInfo().pre is None
    assert InstanceNetworkInfo().post is None
    assert BuildInstance().post  # the lifecycle is still audited
    write_config(extra='[audit]\nnetwork_info = true\n')
    assert InstanceNetworkInfo().post


def test_the_exported_fatal_exception_is_the_one_a_veto_raises(
        write_config: WriteConfig) -> None:
    import novahooks_core
    from novahooks_core.containment import isolation
    write_config(enabled_plugins='refuse', allow_veto='true')
    runner = NovaRunner({'create_instance': [CreateInstance]})
    args, kwargs = factories.create_instance_args()
    with pytest.raises(novahooks_core.FatalHookException) as raised:
        runner.call('create_instance', lambda *a, **k: ([], 'r'), *args,
                    **kwargs)
    assert type(raised.value) is isolation.fatal_exception_class()
    assert novahooks_core.FatalHookException is \
        isolation.fatal_exception_class()
