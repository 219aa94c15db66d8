"""How to test your own hook with novahooks_core.testing."""

import pathlib
from typing import Iterator

from cost_center import CostCenterBuild, CostCenterCreate
import pytest

from novahooks_core import FatalHookException, config
from novahooks_core.containment import timing
from novahooks_core.testing import NovaRunner, factories, run_lifecycle

HOOKS = {'create_instance': [CostCenterCreate],
         'build_instance': [CostCenterBuild]}


@pytest.fixture
def enabled(tmp_path: pathlib.Path) -> Iterator[None]:
    path = tmp_path / 'novahooks.conf'
    path.write_text('[DEFAULT]\nenabled_plugins = cost_center\n'
                    'allow_veto = true\nstate_dir = %s\n' % tmp_path)
    config.reset()
    config.load(str(path))
    yield
    config.reset()


def test_a_request_without_cost_center_is_refused(enabled: None) -> None:
    runner = NovaRunner(HOOKS)
    args, kwargs = factories.create_instance_args(metadata={})
    with pytest.raises(FatalHookException, match='cost-center'):
        runner.call('create_instance', lambda *a, **k: ([], 'r-1'),
                    *args, **kwargs)


def test_a_tagged_request_boots_and_is_logged(enabled: None) -> None:
    runner = NovaRunner(HOOKS)
    args, kwargs = factories.create_instance_args(
        metadata={'cost-center': 'cc-42'})
    runner.call('create_instance', lambda *a, **k: ([], 'r-1'),
                *args, **kwargs)
    assert runner.runs[0].summary == 'cost center cc-42'
    inst = factories.instance(host='cmp1', metadata={'cost-center': 'cc-42'})
    build_args, _ = factories.build_instance_args(inst)
    runner.call('build_instance', lambda *a: 'active', *build_args)
    assert runner.runs[-1].summary == 'logged'
    assert timing.snapshot()['cost_center:build_instance:post'].errors == 0


def test_the_lifecycle_stops_at_the_veto(enabled: None) -> None:
    runner = NovaRunner(HOOKS)
    with pytest.raises(FatalHookException):
        run_lifecycle(runner)  # its request has no cost center
    assert [r.outcome for r in runner.runs] == ['fatal']
    assert runner.runs[0].summary.startswith('veto: metadata "cost-center"')
