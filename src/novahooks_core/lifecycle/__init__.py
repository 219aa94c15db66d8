"""Instance lifecycles driven through Nova's own hook runner, without Nova:
what ``novahooks simulate`` runs, and what the test kit
(:mod:`novahooks_core.testing`) hands to users' tests.

:mod:`.factories` builds Nova-shaped arguments per hook point and release
shape, :mod:`.fakes` stands in for ``nova.objects`` (an unset field read is
an error, as a lazy load would be), :mod:`.driver` runs whole lifecycles.
"""

from novahooks_core.lifecycle.driver import (
    delete_instance,
    run_lifecycle,
    update_cache,
)

__all__ = ['delete_instance', 'run_lifecycle', 'update_cache']
