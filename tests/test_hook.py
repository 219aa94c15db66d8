"""The NovaHook base: enabled check, isolation, veto, redaction, timing."""

import logging
from typing import Any, List, Optional

import pytest

from novahooks_core import (
    FatalHookException,
    Handled,
    HookEvent,
    HookPoint,
    NovaHook,
    Phase,
    Veto,
    config,
    isolated,
    timed,
)
from novahooks_core.containment import timing
from novahooks_core.normalize import BadInput
from novahooks_core.testing import NovaRunner, factories, run_lifecycle
from tests.conftest import WriteConfig

SEEN: List[HookEvent] = []


class Recorder(NovaHook):
    plugin_name = 'rec'

    def handle_pre(self, event: HookEvent) -> Optional[str]:
        SEEN.append(event)
        return 'pre of %s' % event.hook.value

    def handle_post(self, event: HookEvent) -> Optional[str]:
        SEEN.append(event)
        event.normalize_all()
        return None


def _classes(base: type) -> dict:
    return {point.value: [type(base.__name__ + point.name, (base,),
                               {'hook_point': point})]
            for point in HookPoint}


@pytest.fixture(autouse=True)
def _clear_seen() -> None:
    SEEN.clear()


def test_construction_is_free_of_side_effects() -> None:
    cls = _classes(Recorder)['build_instance'][0]
    for _ in range(100):
        hook = cls()
    assert vars(hook) == {}
    assert config._conf is None  # nothing read until a hook is used


def test_disabled_plugin_and_missing_handler_are_skipped_by_nova(
        write_config: WriteConfig) -> None:
    write_config(enabled_plugins='audit')
    cls = _classes(Recorder)['build_instance'][0]
    assert cls().pre is None and cls().post is None
    write_config(enabled_plugins='rec')
    assert cls().pre and cls().post

    class PostOnly(NovaHook):
        plugin_name = 'rec'
        hook_point = HookPoint.DELETE_INSTANCE

        def handle_post(self, event: HookEvent) -> None:
            pass

    assert PostOnly().pre is None and PostOnly().post


def test_lifecycle_reaches_handlers_with_events(
        write_config: WriteConfig) -> None:
    write_config(enabled_plugins='rec')
    runner = NovaRunner(_classes(Recorder))
    instances = run_lifecycle(runner, count=2)
    hooks = [(e.hook.value, e.phase.value) for e in SEEN]
    assert hooks[:2] == [('create_instance', 'pre'),
                         ('create_instance', 'post')]
    assert hooks.count(('delete_instance', 'post')) == 2
    assert hooks.count(('instance_network_info', 'post')) == 6
    builds = [e for e in SEEN if e.hook is HookPoint.BUILD_INSTANCE
              and e.phase is Phase.POST]
    assert [e.result for e in builds] == ['active', 'active']
    assert {e.instance_uuid for e in builds} == {i.uuid for i in instances}
    stats = timing.snapshot()
    assert stats['rec:build_instance:post'].calls == 2
    assert stats['rec:create_instance:pre'].errors == 0
    pre_runs = [r for r in runner.runs if r.hook == 'create_instance'
                and r.phase == 'pre']
    assert pre_runs[0].summary == 'pre of create_instance'


class Failing(NovaHook):
    plugin_name = 'bad'
    hook_point = HookPoint.BUILD_INSTANCE

    def handle_pre(self, event: HookEvent) -> None:
        values = event.raw_call.values
        raise RuntimeError('boom with %r and %s' % (values, values))

    def handle_post(self, event: HookEvent) -> None:
        raise BadInput('instance is a str')


def test_errors_are_logged_counted_and_never_raised(
        write_config: WriteConfig, caplog: pytest.LogCaptureFixture) -> None:
    write_config(enabled_plugins='bad')
    caplog.set_level(logging.DEBUG)
    inst = factories.instance()
    args, kwargs = factories.build_instance_args(inst)
    runner = NovaRunner({'build_instance': [Failing]})
    assert runner.call('build_instance', lambda *a: 'active',
                       *args, **kwargs) == 'active'
    stats = timing.snapshot()
    assert stats['bad:build_instance:pre'].errors == 1
    assert stats['bad:build_instance:post'].bad_input == 1
    assert [r.outcome for r in runner.runs] == ['error', 'bad_input']
    text = caplog.text
    assert 'bad:build_instance:pre failed for instance %s' % inst.uuid in text
    assert 'RuntimeError: boom' in text
    assert 'instance is a str' in text


def test_no_secret_reaches_a_log_line(write_config: WriteConfig,
                                      caplog: pytest.LogCaptureFixture
                                      ) -> None:
    """Canary secrets in every secret-bearing argument of every hook."""
    write_config(enabled_plugins='bad,audit,rec', slow_hook_threshold_ms=0)
    caplog.set_level(logging.DEBUG)

    class Leaky(Failing):
        hook_point = HookPoint.CREATE_INSTANCE

        def handle_post(self, event: HookEvent) -> None:
            raise Veto('refusing %r' % (event.raw_call.values,))

    hooks = _classes(Recorder)
    hooks['create_instance'] += [Leaky]
    from novahooks_core import audit
    for point, cls in ((HookPoint.CREATE_INSTANCE, audit.AuditCreateInstance),
                       (HookPoint.BUILD_INSTANCE, audit.AuditBuildInstance),
                       (HookPoint.DELETE_INSTANCE, audit.AuditDeleteInstance),
                       (HookPoint.INSTANCE_NETWORK_INFO,
                        audit.AuditInstanceNetworkInfo)):
        hooks[point.value].append(cls)
    hooks['build_instance'].append(Failing)
    bdms = factories.bdm_list(factories.volume_bdm())
    run_lifecycle(NovaRunner(hooks), bdms=bdms)
    assert 'RuntimeError' in caplog.text and 'refusing' in caplog.text
    for name, secret in factories.SECRETS.items():
        assert secret not in caplog.text, name
        assert secret[8:30] not in caplog.text, name


@pytest.mark.parametrize('hook_point,phase,allow,raised', [
    (HookPoint.CREATE_INSTANCE, 'pre', True, True),
    (HookPoint.BUILD_INSTANCE, 'pre', True, True),
    (HookPoint.CREATE_INSTANCE, 'pre', False, False),
    (HookPoint.CREATE_INSTANCE, 'post', True, False),
    (HookPoint.DELETE_INSTANCE, 'pre', True, False),
])
def test_veto_only_where_allowed(write_config: WriteConfig,
                                 caplog: pytest.LogCaptureFixture,
                                 hook_point: HookPoint, phase: str,
                                 allow: bool, raised: bool) -> None:
    write_config(enabled_plugins='veto', allow_veto=allow)

    def refuse(self: NovaHook, event: HookEvent) -> None:
        raise Veto('max volume size 100 GB exceeded: 500 GB')

    cls = type('Refuse', (NovaHook,), {
        'plugin_name': 'veto', 'hook_point': hook_point,
        'handle_' + phase: refuse})
    inst = factories.instance()
    args, kwargs = {
        HookPoint.CREATE_INSTANCE: factories.create_instance_args(),
        HookPoint.BUILD_INSTANCE: factories.build_instance_args(inst),
        HookPoint.DELETE_INSTANCE: factories.delete_instance_args(inst),
    }[hook_point]
    called: List[bool] = []
    runner = NovaRunner({hook_point.value: [cls]})

    def function(*a: Any, **k: Any) -> Any:
        called.append(True)
        return ([inst], 'r-1')

    if raised:
        with pytest.raises(FatalHookException,
                           match='max volume size 100 GB'):
            runner.call(hook_point.value, function, *args, **kwargs)
        assert not called  # Nova's function never ran
    else:
        runner.call(hook_point.value, function, *args, **kwargs)
        assert called
        assert 'would refuse' in caplog.text
    name = 'veto:%s:%s' % (hook_point.value, phase)
    assert timing.snapshot()[name].vetoes == 1


def test_slow_handlers_warn(write_config: WriteConfig,
                            caplog: pytest.LogCaptureFixture) -> None:
    write_config(enabled_plugins='rec', slow_hook_threshold_ms=0)
    cls = _classes(Recorder)['delete_instance'][0]
    args, _ = factories.delete_instance_args(factories.instance())
    cls().pre(*args)
    assert 'rec:delete_instance:pre took' in caplog.text
    assert timing.snapshot()['rec:delete_instance:pre'].slow == 1


def test_public_decorators_time_and_isolate() -> None:
    @timed('user:helper')
    def helper(x: int) -> int:
        return x * 2

    @isolated('user:fragile')
    def fragile() -> None:
        raise KeyError('nope')

    assert helper(2) == 4
    assert fragile() is None
    with pytest.raises(ZeroDivisionError):
        timed('user:div')(lambda: 1 / 0)()
    stats = timing.snapshot()
    assert stats['user:helper'].calls == 1
    assert stats['user:helper'].errors == 0
    assert stats['user:fragile'].errors == 1
    assert stats['user:div'].errors == 1
    assert stats['user:helper'].max_seconds >= 0.0


def test_broken_config_disables_plugins_without_raising(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / 'broken.conf'
    path.write_text('[DEFAULT]\nenabled_plugins = rec\nallow_veto = perhaps\n')
    monkeypatch.setenv(config.CONFIG_ENV, str(path))
    config.reset()
    cls = _classes(Recorder)['build_instance'][0]
    assert cls().pre is None
    assert 'all novahooks plugins are disabled' in caplog.text
    assert config.load_error() is not None


class Heals(NovaHook):
    """Remembers what it handled; skips an unchanged call."""

    plugin_name = 'heals'
    hook_point = HookPoint.INSTANCE_NETWORK_INFO
    skips_unchanged = True

    def handle_post(self, event: HookEvent) -> Optional[str]:
        SEEN.append(event)
        return Handled('handled', unchanged_for=60.0)  # handle remembers


def _heal(runner: NovaRunner, inst: Any, *vifs: Any) -> None:
    args, kwargs = factories.instance_network_info_args(
        inst, factories.network_info(*vifs))
    runner.call('instance_network_info', lambda *a, **k: None, *args,
                **kwargs)


def test_an_unchanged_call_is_skipped_before_the_handler(
        write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(enabled_plugins='heals')
    runner = NovaRunner({'instance_network_info': [Heals]})
    inst = factories.instance(state='active', host='c1')
    vif = factories.vif('10.0.0.5', port_id='p1')
    for _ in range(3):  # Nova's heal: equal, freshly built each time
        _heal(runner, inst, dict(vif))
    assert len(SEEN) == 1
    stats = timing.snapshot()['heals:instance_network_info:post']
    assert (stats.calls, stats.unchanged, stats.errors) == (3, 2, 0)
    assert [r.summary for r in runner.runs if r.phase == 'post'] == [
        'handled', 'unchanged', 'unchanged']
    # A change in what the key covers (the host) is handled.
    inst.host = 'c2'
    _heal(runner, inst, dict(vif))
    assert len(SEEN) == 2
    # A key that cannot be read is not "unchanged": handled, nothing
    # raised into Nova.
    from novahooks_core import normalize

    def broken(value: Any) -> None:
        raise RuntimeError('no key today')
    monkeypatch.setattr(normalize, 'network_info_key', broken)
    _heal(runner, inst, dict(vif))
    assert len(SEEN) == 3
    assert timing.snapshot()['heals:instance_network_info:post'].errors == 1
