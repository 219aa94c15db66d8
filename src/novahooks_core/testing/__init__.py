"""Test kit for hooks: Nova-shaped arguments and Nova's exact runner.

    from novahooks_core import testing

    runner = testing.NovaRunner({'build_instance': [MyBuildHook]})
    testing.run_lifecycle(runner)
    assert [r.outcome for r in runner.runs if r.phase == 'post'] == [...]

``factories`` builds arguments per hook point and release shape;
``SECRETS`` lists the canary values they carry.
"""

from novahooks_core.runner import HookRun, NovaRunner
from novahooks_core.testing import factories, fakes
from novahooks_core.testing.factories import SECRETS
from novahooks_core.testing.lifecycle import (
    delete_instance,
    run_lifecycle,
    update_cache,
)

RELEASES = (12, 14, 15, 16, 17, 19, 20, 21)

__all__ = ['HookRun', 'NovaRunner', 'RELEASES', 'SECRETS',
           'delete_instance', 'factories', 'fakes', 'run_lifecycle',
           'update_cache']
