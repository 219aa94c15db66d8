"""The test kit's runner has exactly nova.hooks' semantics."""

from typing import Any, List

import pytest

from novahooks_core import FatalHookException
from novahooks_core.testing import NovaRunner, factories, run_lifecycle

EVENTS: List[str] = []


class Plain:
    """A hand-written hook, the way operators write them today."""

    instances = 0

    def __init__(self) -> None:
        type(self).instances += 1

    def pre(self, *args: Any, **kwargs: Any) -> None:
        EVENTS.append('pre:%d' % len(args))

    def post(self, rv: Any, *args: Any, **kwargs: Any) -> None:
        EVENTS.append('post:%r' % (rv,))


class Crashing:
    def pre(self, *args: Any, **kwargs: Any) -> None:
        raise ValueError('hand-written hook bug')

    post = None


class Fatal:
    def pre(self, *args: Any, **kwargs: Any) -> None:
        raise FatalHookException('stop')


@pytest.fixture(autouse=True)
def _reset() -> None:
    EVENTS.clear()
    Plain.instances = 0


def test_new_instances_per_call_pre_function_post() -> None:
    runner = NovaRunner({'delete_instance': [Plain]})
    args, _ = factories.delete_instance_args(factories.instance())
    for _ in range(3):
        assert runner.call('delete_instance', lambda *a: 'done', *args) \
            == 'done'
    assert Plain.instances == 3
    assert EVENTS == ['pre:4', "post:'done'"] * 3


def test_other_exceptions_are_swallowed_fatal_is_reraised() -> None:
    runner = NovaRunner({'build_instance': [Crashing, Plain]})
    assert runner.call('build_instance', lambda: 'active') == 'active'
    assert EVENTS == ['pre:0', "post:'active'"]
    assert [r.outcome for r in runner.runs] == [
        'error: ValueError', 'ran', 'skipped', 'ran']
    EVENTS.clear()
    called: List[bool] = []
    runner = NovaRunner({'build_instance': [Fatal, Plain]})
    with pytest.raises(FatalHookException):
        runner.call('build_instance', lambda: called.append(True))
    assert not called and EVENTS == []  # the loop stops at the fatal one


def test_post_is_skipped_when_the_function_raises() -> None:
    runner = NovaRunner({'delete_instance': [Plain]})

    def broken() -> None:
        raise RuntimeError('nova failed')

    with pytest.raises(RuntimeError):
        runner.call('delete_instance', broken)
    assert EVENTS == ['pre:0']


@pytest.mark.parametrize('release', [12, 15, 17, 21])
def test_lifecycle_order_matches_a_real_boot(release: int) -> None:
    runner = NovaRunner({name: [Plain] for name in (
        'create_instance', 'build_instance', 'delete_instance',
        'instance_network_info')})
    instances = run_lifecycle(runner, release=release)
    order = [(r.hook, r.phase) for r in runner.runs]
    assert order == [
        ('create_instance', 'pre'), ('create_instance', 'post'),
        ('build_instance', 'pre'),
        ('instance_network_info', 'pre'), ('instance_network_info', 'post'),
        ('build_instance', 'post'),
        ('instance_network_info', 'pre'), ('instance_network_info', 'post'),
        ('delete_instance', 'pre'),
        ('instance_network_info', 'pre'), ('instance_network_info', 'post'),
        ('delete_instance', 'post')]
    assert instances[0].vm_state == 'deleted'
    assert instances[0].info_cache.network_info == []
