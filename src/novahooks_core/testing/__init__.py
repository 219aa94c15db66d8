"""Test kit for hooks: Nova-shaped arguments and Nova's exact runner.

    from novahooks_core import testing

    runner = testing.NovaRunner({'build_instance': [MyBuildHook]})
    testing.run_lifecycle(runner)
    assert [r.outcome for r in runner.runs if r.phase == 'post'] == [...]

``factories`` builds arguments per hook point and release shape;
``SECRETS`` lists the canary values they carry, and ``canaries`` what no
output may hold (``canaries.found_in(text)``). The lifecycle driver and
the factories live in :mod:`novahooks_core.lifecycle` (``simulate`` runs
them too): this package re-exports them, and no production code imports
it.
"""

from novahooks_core.hooks.binding import SHAPES
from novahooks_core.lifecycle import canaries, factories, fakes
from novahooks_core.lifecycle.driver import (
    delete_instance,
    run_lifecycle,
    update_cache,
)
from novahooks_core.lifecycle.factories import SECRETS
from novahooks_core.runner import HookRun, NovaRunner

#: One Nova release of each hook-argument shape.
RELEASES = SHAPES

__all__ = ['HookRun', 'NovaRunner', 'RELEASES', 'SECRETS', 'canaries',
           'delete_instance', 'factories', 'fakes', 'run_lifecycle',
           'update_cache']
