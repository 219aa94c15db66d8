"""The ``nova.hooks`` entry points of the novahooks distribution.

One distribution may register only one class per hook name, so novahooks'
plugins do not register in ``nova.hooks`` themselves: each registers its
:class:`~novahooks_core.NovaHook` subclasses in the ``novahooks.hooks``
namespace as ``<plugin>.<hook point>``, and the dispatcher here runs the
enabled ones, each guarded on its own, sharing one normalized event.

When no enabled plugin handles a phase, ``pre``/``post`` are ``None`` and
Nova skips the dispatcher. Handler classes are loaded once per process.
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
    Tuple,
    Type,
)

from oslo_log import log as logging
from stevedore import extension

from novahooks_core import config
from novahooks_core.event import HookEvent
from novahooks_core.hook import NovaHook
from novahooks_core.models import HookPoint, Phase

LOG = logging.getLogger(__name__)

NAMESPACE = 'novahooks.hooks'

_lock = threading.Lock()
_classes: Optional[Dict[HookPoint, List[Type[NovaHook]]]] = None
_active: Dict[Tuple[HookPoint, Phase, FrozenSet[str]],
              Tuple[NovaHook, ...]] = {}


def _on_load_failure(manager: Any, entry_point: Any,
                     exc: BaseException) -> None:
    LOG.error('novahooks: cannot load hook %s: %s: %s',
              getattr(entry_point, 'name', entry_point),
              type(exc).__name__, exc)


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
                    else:
                        LOG.error('novahooks: %s is not a NovaHook with a '
                                  'hook_point; ignored', ext.name)
                _classes = found
    return _classes


def active_handlers(point: HookPoint, phase: Phase) -> Tuple[NovaHook, ...]:
    """Instances of the enabled handlers of ``point`` for ``phase``."""
    enabled = config.enabled_plugins()
    key = (point, phase, enabled)
    handlers = _active.get(key)
    if handlers is None:
        handlers = tuple(
            cls() for cls in handler_classes()[point]
            if cls.plugin_name in enabled and cls._handles.get(phase))
        _active[key] = handlers
    return handlers


def reset() -> None:
    """Forget loaded handlers (tests)."""
    global _classes
    with _lock:
        _classes = None
        _active.clear()


class Dispatcher:
    """Runs every enabled plugin's handler for one hook point."""

    hook_point: ClassVar[HookPoint]

    @property
    def pre(self) -> Optional[Callable[..., None]]:
        return (self._run_pre if active_handlers(self.hook_point, Phase.PRE)
                else None)

    @property
    def post(self) -> Optional[Callable[..., None]]:
        return (self._run_post
                if active_handlers(self.hook_point, Phase.POST) else None)

    def _run_pre(self, *args: Any, **kwargs: Any) -> None:
        event = HookEvent(self.hook_point, Phase.PRE, args, kwargs)
        for handler in active_handlers(self.hook_point, Phase.PRE):
            handler.handle(event)

    def _run_post(self, rv: Any, *args: Any, **kwargs: Any) -> None:
        event = HookEvent(self.hook_point, Phase.POST, args, kwargs, rv)
        for handler in active_handlers(self.hook_point, Phase.POST):
            handler.handle(event)


class CreateInstance(Dispatcher):
    hook_point = HookPoint.CREATE_INSTANCE


class BuildInstance(Dispatcher):
    hook_point = HookPoint.BUILD_INSTANCE


class DeleteInstance(Dispatcher):
    hook_point = HookPoint.DELETE_INSTANCE


class InstanceNetworkInfo(Dispatcher):
    hook_point = HookPoint.INSTANCE_NETWORK_INFO
