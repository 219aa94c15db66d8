"""The ``nova.hooks`` entry points of the novahooks distribution.

One distribution may register only one class per hook name, so novahooks'
plugins do not register in ``nova.hooks`` themselves: each registers its
:class:`~novahooks_core.NovaHook` subclasses in the ``novahooks.hooks``
namespace as ``<plugin>.<hook point>``, and the dispatcher here runs the
enabled ones, each guarded on its own, sharing one normalized event.

When no enabled plugin handles a phase, ``pre``/``post`` are ``None`` and
Nova skips the dispatcher. Handler classes are loaded, and built, once per
process (:mod:`novahooks_core.hooks.registry`).

Nova reads ``pre``/``post`` outside its own ``try`` (``HookManager._run``),
so those properties and everything they call never raise: a handler entry
point that cannot be loaded, or a class that cannot be built, is logged
once (ERROR, naming the entry point), counted, and skipped, and the other
plugins run; so are handlers that cannot be listed.
"""

from typing import Any, Callable, ClassVar, Dict, FrozenSet, Optional, Tuple

from novahooks_core import config
from novahooks_core.containment import isolation
from novahooks_core.hooks import registry
from novahooks_core.hooks.base import NovaHook
from novahooks_core.hooks.event import HookEvent

# Loading and building the handler classes moved to registry; reachable
# here too, as before (code and tests that read them from dispatch).
from novahooks_core.hooks.registry import (
    NAMESPACE as NAMESPACE,
)
from novahooks_core.hooks.registry import (
    handler_classes as handler_classes,
)
from novahooks_core.models import HookPoint, Phase

#: (hook point, phase) -> (configuration, enabled, handlers) it was for.
_active: Dict[Tuple[HookPoint, Phase],
              Tuple[Any, FrozenSet[str], Tuple[NovaHook, ...]]] = {}


def _build(point: HookPoint, phase: Phase) -> Tuple[NovaHook, ...]:
    found = []
    for cls in registry.handler_classes()[point]:
        try:
            runs = cls.runs(phase)
        except Exception as exc:
            runs = False
            registry.report_once(
                'runs:%s' % cls.__qualname__,
                cls._names.get(phase, cls.__qualname__),
                'novahooks: cannot tell whether %s runs: %s: %s; skipped',
                registry.origin(cls, cls.__qualname__), type(exc).__name__,
                exc)
        handler = registry.instance(cls, phase) if runs else None
        if handler is not None:
            found.append(handler)
    return tuple(found)


def active_handlers(point: HookPoint, phase: Phase) -> Tuple[NovaHook, ...]:
    """Instances of the enabled handlers of ``point`` for ``phase``;
    never raises (nothing runs when they cannot be listed)."""
    try:
        conf = config.get()
        enabled = config.enabled_plugins()
        cached = _active.get((point, phase))
        if cached is not None and cached[0] is conf and cached[1] is enabled:
            return cached[2]
        handlers = _build(point, phase)
        registry.report_load_failures(enabled)
        _active[(point, phase)] = (conf, enabled, handlers)
        return handlers
    except Exception as exc:
        registry.report_once(
            'list:%s:%s' % (point.value, phase.value),
            'dispatch:%s:%s' % (point.value, phase.value),
            'novahooks: cannot list the handlers of %s %s: %s: %s; none run',
            point.value, phase.value, type(exc).__name__, exc)
        return ()


def reset() -> None:
    """Forget loaded handlers, what each hook point ran and which plugins
    were said to be failing (tests)."""
    registry.reset()
    isolation.reset()
    _active.clear()


# (Module names: reading an Enum's member from its class is slow.)
_PRE, _POST = Phase.PRE, Phase.POST


class Dispatcher:
    """Runs every enabled plugin's handler for one hook point."""

    hook_point: ClassVar[HookPoint]

    @property
    def pre(self) -> Optional[Callable[..., None]]:
        return (self._run_pre if active_handlers(self.hook_point, _PRE)
                else None)

    @property
    def post(self) -> Optional[Callable[..., None]]:
        return (self._run_post
                if active_handlers(self.hook_point, _POST) else None)

    def _run_pre(self, *args: Any, **kwargs: Any) -> None:
        event = HookEvent(self.hook_point, _PRE, args, kwargs)
        for handler in active_handlers(self.hook_point, _PRE):
            handler.handle(event)

    def _run_post(self, rv: Any, *args: Any, **kwargs: Any) -> None:
        event = HookEvent(self.hook_point, _POST, args, kwargs, rv)
        for handler in active_handlers(self.hook_point, _POST):
            handler.handle(event)


class CreateInstance(Dispatcher):
    hook_point = HookPoint.CREATE_INSTANCE


class BuildInstance(Dispatcher):
    hook_point = HookPoint.BUILD_INSTANCE


class DeleteInstance(Dispatcher):
    hook_point = HookPoint.DELETE_INSTANCE


class InstanceNetworkInfo(Dispatcher):
    hook_point = HookPoint.INSTANCE_NETWORK_INFO
