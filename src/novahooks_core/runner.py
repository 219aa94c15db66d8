"""A hook runner with exactly the semantics of ``nova.hooks`` (15 to 21).

Per call: a new stevedore ``HookManager`` (so every hook class is built
anew), each hook's ``pre`` if truthy, the function, each hook's ``post`` if
truthy (not when the function raised). A ``FatalHookException`` from a hook
is logged and re-raised; any other exception is logged and swallowed.

Unlike Nova, the runner records what each hook did and how long it took.
"""

import dataclasses
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, cast

from oslo_log import log as logging
from oslo_utils import timeutils
from stevedore import extension
from stevedore import hook as stevedore_hook

from novahooks_core.containment import timing
from novahooks_core.containment.isolation import fatal_exception_class

LOG = logging.getLogger(__name__)

NAMESPACE = 'nova.hooks'


@dataclasses.dataclass(frozen=True)
class HookRun:
    """One ``pre`` or ``post`` of one hook class, or of one plugin handler
    behind novahooks' dispatcher (``handler``: ``plugin:hook:phase``)."""

    hook: str
    phase: str
    target: str
    outcome: str
    seconds: float
    summary: Optional[str] = None
    handler: str = ''


def target_name(obj: Any) -> str:
    """``module:Class`` of a hook object."""
    cls = type(obj)
    return '%s:%s' % (cls.__module__, cls.__qualname__)


class NovaRunner:
    """Runs hooks as Nova does.

    ``hooks`` maps hook names to hook classes, for tests that should not
    depend on installed entry points; without it the installed
    ``nova.hooks`` entry points are loaded through stevedore, as in Nova.
    With ``record=False`` nothing is kept in :attr:`runs` (benchmarks).
    """

    def __init__(self, hooks: Optional[Mapping[str, Sequence[type]]] = None,
                 namespace: str = NAMESPACE, record: bool = True) -> None:
        self.hooks = hooks
        self.namespace = namespace
        self.record = record
        self.runs: List[HookRun] = []

    def manager(self, name: str) -> 'stevedore_hook.HookManager[Any]':
        """A new manager for hook ``name``, with new hook instances."""
        if self.hooks is None:
            return stevedore_hook.HookManager(self.namespace, name,
                                              invoke_on_load=True)
        extensions = [extension.Extension(name, cast(Any, None), cls, cls())
                      for cls in self.hooks.get(name, ())]
        return stevedore_hook.HookManager.make_test_instance(
            extensions, namespace=self.namespace)

    def call(self, name: str, function: Callable[..., Any], *args: Any,
             **kwargs: Any) -> Any:
        """Call ``function`` wrapped in hook ``name``, like ``add_hook``."""
        manager = self.manager(name)
        self._run(manager, name, 'pre', args, kwargs)
        rv = function(*args, **kwargs)
        self._run(manager, name, 'post', (rv,) + args, kwargs)
        return rv

    def _run(self, manager: 'stevedore_hook.HookManager[Any]', name: str,
             phase: str, args: Sequence[Any],
             kwargs: Dict[str, Any]) -> None:
        fatal = fatal_exception_class()
        for ext in manager.extensions:
            method = getattr(ext.obj, phase, None)
            if not method:
                if self.record:
                    self.runs.append(HookRun(name, phase, target_name(ext.obj),
                                             'skipped', 0.0))
                continue
            inner: List[timing.CallRecord] = []
            if self.record:
                timing.add_listener(inner.append)
            watch = timeutils.StopWatch().start()
            outcome = 'ran'
            try:
                method(*args, **kwargs)
            except fatal:
                outcome = 'fatal'
                LOG.exception('Fatal Exception running %s %s-hook: %s',
                              name, phase, target_name(ext.obj))
                raise
            except Exception as exc:
                outcome = 'error: %s' % type(exc).__name__
                LOG.exception('Exception running %s %s-hook: %s',
                              name, phase, target_name(ext.obj))
            finally:
                if self.record:
                    timing.remove_listener(inner.append)
                    self._keep(name, phase, target_name(ext.obj), outcome,
                               watch.elapsed(), inner)

    def _keep(self, name: str, phase: str, target: str, outcome: str,
              seconds: float, inner: List[timing.CallRecord]) -> None:
        """One run per guarded handler call; the hook's own if none."""
        if not inner:
            self.runs.append(HookRun(name, phase, target, outcome, seconds))
        for index, call in enumerate(inner):
            last = index == len(inner) - 1
            self.runs.append(HookRun(
                name, phase, target,
                outcome if last and outcome != 'ran' else call.outcome,
                call.seconds, call.summary, call.name))
