"""The ``nova.hooks`` entry points of the novahooks distribution.

One distribution may register only one class per hook name, so novahooks'
plugins do not register in ``nova.hooks`` themselves: each registers its
:class:`~novahooks_core.NovaHook` subclasses in the ``novahooks.hooks``
namespace as ``<plugin>.<hook point>``, and the dispatcher here runs the
enabled ones, each guarded on its own, sharing one normalized event.

When no enabled plugin handles a phase, ``pre``/``post`` are ``None`` and
Nova skips the dispatcher. Handler classes are loaded, and built, once per
process.

Nova reads ``pre``/``post`` outside its own ``try`` (``HookManager._run``),
so those properties and everything they call never raise: a handler entry
point that cannot be loaded, or a class that cannot be built, is logged
once (ERROR, naming the entry point), counted, and skipped, and the other
plugins run.
"""

import threading
from typing import (
    Any,
    Callable,
    ClassVar,
    Dict,
    FrozenSet,
    List,
    Optional,
    Set,
    Tuple,
    Type,
)

from oslo_log import log as logging
from stevedore import extension

from novahooks_core import config, timing
from novahooks_core.event import HookEvent
from novahooks_core.hook import NovaHook
from novahooks_core.models import HookPoint, Outcome, Phase

LOG = logging.getLogger(__name__)

NAMESPACE = 'novahooks.hooks'

_lock = threading.Lock()
_classes: Optional[Dict[HookPoint, List[Type[NovaHook]]]] = None
#: Entry-point name of each loaded class (for log lines).
_origin: Dict[type, str] = {}
#: Entry points that did not load: name -> why.
_load_failures: Dict[str, str] = {}
#: One instance per handler class; ``None`` when it cannot be built.
_instances: Dict[type, Optional[NovaHook]] = {}
#: (hook point, phase) -> (configuration, enabled, handlers) it was for.
_active: Dict[Tuple[HookPoint, Phase],
              Tuple[Any, FrozenSet[str], Tuple[NovaHook, ...]]] = {}
#: What was already logged as broken (logged once per process); its own
#: lock, since loading (under ``_lock``) reports failures.
_reported: Set[str] = set()
_report_lock = threading.Lock()


def _report_once(what: str, counter: str, message: str,
                 *args: Any) -> None:
    """Log ``message`` as an ERROR and count an error under ``counter``,
    the first time ``what`` goes wrong in this process."""
    with _report_lock:
        if what in _reported:
            return
        _reported.add(what)
    LOG.error(message, *args)
    timing.count(counter, Outcome.ERROR)


def _on_load_failure(manager: Any, entry_point: Any,
                     exc: BaseException) -> None:
    name = getattr(entry_point, 'name', str(entry_point))
    _load_failures[name] = '%s: %s' % (type(exc).__name__, exc)


def _report_load_failures(enabled: FrozenSet[str]) -> None:
    """Log (once) the entry points of enabled plugins that did not load;
    a disabled plugin's are no concern of Nova's."""
    for name, error in sorted(_load_failures.items()):
        if name.split('.', 1)[0] in enabled:
            _report_once('load:%s' % name, '%s:load' % name,
                         'novahooks: cannot load handler entry point %s '
                         '(%s): %s; skipped, the other plugins run', name,
                         NAMESPACE, error)


def handler_classes() -> Dict[HookPoint, List[Type[NovaHook]]]:
    """Every ``novahooks.hooks`` class, by hook point (loaded once)."""
    global _classes
    if _classes is None:
        with _lock:
            if _classes is None:
                found: Dict[HookPoint, List[Type[NovaHook]]] = {
                    point: [] for point in HookPoint}
                manager: Any = extension.ExtensionManager(
                    NAMESPACE, invoke_on_load=False,
                    on_load_failure_callback=_on_load_failure)
                for ext in sorted(manager.extensions, key=lambda e: e.name):
                    cls = ext.plugin
                    if (isinstance(cls, type) and issubclass(cls, NovaHook)
                            and cls.hook_point is not None):
                        found[cls.hook_point].append(cls)
                        _origin[cls] = ext.name
                    else:
                        LOG.error('novahooks: %s is not a NovaHook with a '
                                  'hook_point; ignored', ext.name)
                _classes = found
    return _classes


def _instance(cls: Type[NovaHook], phase: Phase) -> Optional[NovaHook]:
    """The process's instance of ``cls``, built once; ``None`` (logged
    once, counted) when building it raises."""
    if cls in _instances:
        return _instances[cls]
    try:
        made: Optional[NovaHook] = cls()
    except Exception as exc:
        made = None
        name = _origin.get(cls, '%s:%s' % (cls.__module__, cls.__qualname__))
        _report_once('build:%s' % name, cls._names.get(phase, name),
                     'novahooks: cannot build handler %s (%s.%s): %s: %s; '
                     'skipped, the other plugins run', name, cls.__module__,
                     cls.__qualname__, type(exc).__name__, exc)
    _instances[cls] = made
    return made


def _build(point: HookPoint, phase: Phase) -> Tuple[NovaHook, ...]:
    found = []
    for cls in handler_classes()[point]:
        try:
            runs = cls.runs(phase)
        except Exception as exc:
            runs = False
            _report_once('runs:%s' % cls.__qualname__,
                         cls._names.get(phase, cls.__qualname__),
                         'novahooks: cannot tell whether %s runs: %s: %s; '
                         'skipped', _origin.get(cls, cls.__qualname__),
                         type(exc).__name__, exc)
        handler = _instance(cls, phase) if runs else None
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
        _report_load_failures(enabled)
        _active[(point, phase)] = (conf, enabled, handlers)
        return handlers
    except Exception as exc:
        _report_once('list:%s:%s' % (point.value, phase.value),
                     'dispatch:%s:%s' % (point.value, phase.value),
                     'novahooks: cannot list the handlers of %s %s: %s: %s; '
                     'none run', point.value, phase.value,
                     type(exc).__name__, exc)
        return ()


def reset() -> None:
    """Forget loaded handlers (tests)."""
    global _classes
    with _lock:
        _classes = None
        _origin.clear()
        _load_failures.clear()
        _instances.clear()
        _active.clear()
    with _report_lock:
        _reported.clear()


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
