"""One owner for "unchanged": ``NovaHook.handle`` remembers what a
handler's :class:`~novahooks_core.Handled` result says, skips an equal
call of a hook with ``skips_unchanged``, and plugins never import the
memory (``novahooks_core.hooks.seen``) themselves."""

import ast
import pathlib
from typing import Any, Iterator, List, Optional

import pytest

from novahooks_core import (
    Handled,
    HookEvent,
    HookPoint,
    NovaHook,
    Outcome,
    Phase,
)
from novahooks_core.containment import timing
from novahooks_core.hooks.base import in_order
from novahooks_core.hooks.seen import SEEN
from novahooks_core.state import db
from novahooks_core.testing import factories
from novahooks_netinfo import hooks as netinfo_hooks
from novahooks_netinfo import service as netinfo_service
from tests.conftest import WriteConfig

SRC = pathlib.Path(__file__).resolve().parents[1] / 'src'
CALLS: List[str] = []


class Memo(NovaHook):
    """Says, by its result only, that an equal call is unchanged."""

    plugin_name = 'memo'
    hook_point = HookPoint.INSTANCE_NETWORK_INFO
    skips_unchanged = True

    def handle_post(self, event: HookEvent) -> Optional[str]:
        CALLS.append('post')
        if event.network_info is not None and not len(event.network_info):
            return Handled('deallocated', forget=True)
        return Handled('handled', unchanged_for=60.0)


class MemoBuild(Memo):
    """Tells an unchanged call itself (no skip before the guard)."""

    hook_point = HookPoint.BUILD_INSTANCE
    skips_unchanged = False

    def handle_post(self, event: HookEvent) -> Optional[str]:
        if self.is_unchanged(event):
            return 'unchanged'
        CALLS.append('build')
        return Handled('built', unchanged_for=60.0)


@pytest.fixture(autouse=True)
def _memo(write_config: WriteConfig) -> Iterator[None]:
    CALLS.clear()
    write_config(enabled_plugins='memo')
    yield
    CALLS.clear()


def _heal(inst: Any, *vifs: Any) -> HookEvent:
    """Nova's network-info post for ``inst``, freshly built (as the heal
    builds it)."""
    args, kwargs = factories.instance_network_info_args(
        inst, factories.network_info(*vifs))
    return HookEvent(HookPoint.INSTANCE_NETWORK_INFO, Phase.POST,
                     args, kwargs, None)


def _build(inst: Any) -> HookEvent:
    args, _ = factories.build_instance_args(inst)
    return HookEvent(HookPoint.BUILD_INSTANCE, Phase.POST, args, {},
                     'active')


def test_a_handled_result_is_remembered_by_handle() -> None:
    """Fails when ``handle`` ignores the handler's result: the handler
    would run on every call."""
    inst = factories.instance(state='active', host='c1')
    vif = factories.vif('10.0.0.5', port_id='p1')
    outcomes = [Memo().handle(_heal(inst, dict(vif))) for _ in range(3)]
    assert outcomes == [Outcome.OK, Outcome.UNCHANGED, Outcome.UNCHANGED]
    assert CALLS == ['post']
    stats = timing.snapshot()['memo:instance_network_info:post']
    assert (stats.calls, stats.unchanged, stats.errors) == (3, 2, 0)
    # Remembered under the plugin's name, for the instance, by core.
    assert SEEN.unchanged('memo', _heal(inst, dict(vif)))
    assert not SEEN.unchanged('other', _heal(inst, dict(vif)))
    # What the key covers changed: handled again.
    inst.host = 'c2'
    assert Memo().handle(_heal(inst, dict(vif))) is Outcome.OK
    assert CALLS == ['post', 'post']


def test_a_forget_result_forgets_the_instance() -> None:
    inst = factories.instance(state='active', host='c1')
    vif = factories.vif('10.0.0.5', port_id='p1')
    assert Memo().handle(_heal(inst, dict(vif))) is Outcome.OK
    assert Memo().handle(_heal(inst)) is Outcome.OK  # deallocated
    assert not SEEN.unchanged('memo', _heal(inst, dict(vif)))
    assert Memo().handle(_heal(inst, dict(vif))) is Outcome.OK
    assert CALLS == ['post'] * 3


def test_a_plain_summary_remembers_nothing() -> None:
    class Plain(Memo):
        def handle_post(self, event: HookEvent) -> Optional[str]:
            CALLS.append('plain')
            return 'handled'
    inst = factories.instance(state='active', host='c1')
    vif = factories.vif('10.0.0.5', port_id='p1')
    assert [Plain().handle(_heal(inst, dict(vif))) for _ in range(2)] == [
        Outcome.OK, Outcome.OK]
    assert CALLS == ['plain', 'plain'] and len(SEEN) == 0


def test_a_hook_without_skips_tells_unchanged_itself() -> None:
    """Its equal call is an ``ok`` call summarised ``unchanged`` (timed),
    not an ``unchanged`` outcome; the memory is shared with the plugin's
    other hooks."""
    inst = factories.instance(state='active', host='c1')
    records: List[timing.CallRecord] = []
    timing.add_listener(records.append)
    try:
        outcomes = [MemoBuild().handle(_build(inst)) for _ in range(2)]
    finally:
        timing.remove_listener(records.append)
    assert outcomes == [Outcome.OK, Outcome.OK]
    assert CALLS == ['build']
    assert [r.summary for r in records] == ['built', 'unchanged']
    assert timing.snapshot()['memo:build_instance:post'].unchanged == 0


def test_the_batch_path_remembers_and_forgets_the_same_way() -> None:
    """``handle(event, handler)`` (a batch's handler) is remembered as
    ``handle(event)`` is; a batch whose writes fail forgets its
    instances through the base (``forget_unchanged``)."""
    inst = factories.instance(state='active', host='c1')
    other = factories.instance(state='active', host='c1')
    vif = factories.vif('10.0.0.5', port_id='p1')

    def in_batch(event: HookEvent) -> Optional[str]:
        CALLS.append('batch')
        return Handled('batched', unchanged_for=60.0)
    calls = [(Memo(), _heal(inst, dict(vif))),
             (Memo(), _heal(inst, dict(vif))),
             (Memo(), _heal(other, dict(vif)))]
    outcomes = in_order(calls, lambda hook, event: hook.handle(
        event, in_batch))
    assert outcomes == [Outcome.OK, Outcome.UNCHANGED, Outcome.OK]
    assert CALLS == ['batch', 'batch']
    Memo.forget_unchanged([inst.uuid, None])
    assert not SEEN.unchanged('memo', _heal(inst, dict(vif)))
    assert SEEN.unchanged('memo', _heal(other, dict(vif)))


def test_a_key_that_cannot_be_read_is_an_error_of_the_call(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Remembering runs inside the handler's guard: nothing reaches the
    caller, the call is counted as an error (as when plugins remembered
    in their handlers)."""
    from novahooks_core import normalize

    def broken(value: Any) -> None:
        raise RuntimeError('no key today')
    monkeypatch.setattr(normalize, 'network_info_key', broken)
    inst = factories.instance(state='active', host='c1')
    event = _heal(inst, factories.vif('10.0.0.5'))
    assert Memo().handle(event) is Outcome.ERROR
    assert CALLS == ['post'] and len(SEEN) == 0


@pytest.fixture
def netinfo(write_config: WriteConfig, tmp_path: pathlib.Path
            ) -> Iterator[None]:
    netinfo_service.reset()
    db.reset()
    write_config(enabled_plugins='netinfo', extra=(
        '[netinfo]\ndatabase_url = sqlite:///%s\n'
        % (tmp_path / 'netinfo.sqlite')))
    yield
    netinfo_service.reset()
    db.reset()


def test_netinfo_s_result_is_remembered_by_handle(
        netinfo: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The netinfo plugin no longer remembers by itself: what it
    recorded comes back as ``Handled``, and ``handle`` skips the heal
    before the service runs."""
    hook = netinfo_hooks.NetinfoInstanceNetworkInfo()
    inst = factories.instance(state='active', host='c1')
    vif = factories.vif('10.0.0.5', port_id='p1')
    assert hook.handle(_heal(inst, dict(vif))) is Outcome.OK
    assert SEEN.unchanged('netinfo', _heal(inst, dict(vif)))
    observed: List[str] = []
    real = netinfo_service.NetinfoService.observe_event

    def counting(self: Any, event: HookEvent, batch: Any = None) -> Any:
        observed.append(str(event.instance_uuid))
        return real(self, event, batch)
    monkeypatch.setattr(netinfo_service.NetinfoService, 'observe_event',
                        counting)
    assert hook.handle(_heal(inst, dict(vif))) is Outcome.UNCHANGED
    assert observed == []
    # Deallocated while deleting: forgotten, the next call is handled.
    inst.vm_state, inst.task_state = 'active', 'deleting'
    assert hook.handle(_heal(inst)) is Outcome.OK
    assert not SEEN.unchanged('netinfo', _heal(inst))
    assert observed == [inst.uuid]


def _imports(path: pathlib.Path) -> List[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
            found += ['%s.%s' % (node.module, a.name) for a in node.names]
    return found


def test_plugins_never_import_the_memory() -> None:
    wrong = [(str(path.relative_to(SRC)), name)
             for package in ('novahooks_dns', 'novahooks_storage',
                             'novahooks_netinfo')
             for path in sorted((SRC / package).rglob('*.py'))
             for name in _imports(path)
             if name in ('novahooks_core.seen', 'novahooks_core.hooks.seen')
             or name.endswith('.SEEN')]
    assert not wrong
