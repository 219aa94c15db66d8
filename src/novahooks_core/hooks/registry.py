"""The plugins' handler classes: every ``novahooks.hooks`` entry point,
loaded, and built, once per process.

Plugins register their :class:`~novahooks_core.NovaHook` subclasses in the
``novahooks.hooks`` namespace as ``<plugin>.<hook point>``; the
dispatcher (:mod:`novahooks_core.hooks.dispatch`) runs the enabled ones.
Nothing here raises into Nova: a handler entry point that cannot be
loaded, or a class that cannot be built, is logged once (ERROR, naming
the entry point), counted, and skipped, and the other plugins run.
"""

import threading
from typing import Any, Dict, FrozenSet, List, Optional, Set, Type

from oslo_log import log as logging
from stevedore import extension

from novahooks_core import extras, plugin
from novahooks_core.containment import timing
from novahooks_core.hooks.base import NovaHook
from novahooks_core.models import HookPoint, Outcome, Phase

LOG = logging.getLogger(__name__)

NAMESPACE = 'novahooks.hooks'

_lock = threading.Lock()
_classes: Optional[Dict[HookPoint, List[Type[NovaHook]]]] = None
#: Entry-point name of each loaded class (for log lines).
_origin: Dict[type, str] = {}
#: Entry points that did not load: name -> why (an extra's
#: :class:`~novahooks_core.extras.MissingExtra`, or the error).
_load_failures: Dict[str, BaseException] = {}
#: One instance per handler class; ``None`` when it cannot be built.
_instances: Dict[type, Optional[NovaHook]] = {}
#: What was already logged as broken (logged once per process); its own
#: lock, since loading (under ``_lock``) reports failures.
_reported: Set[str] = set()
_report_lock = threading.Lock()


def report_once(what: str, counter: str, message: str, *args: Any) -> None:
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
    plugin = name.split('.', 1)[0]
    _load_failures[name] = (extras.missing('plugin %s' % plugin, exc,
                                           plugin) or exc)


def report_load_failures(enabled: FrozenSet[str]) -> None:
    """Log (once) the entry points of enabled plugins that did not load
    (a plugin whose extra is missing: once for the plugin, with its pip
    line), and each ``enabled_plugins`` name that no handler has (a typo,
    or a plugin not installed: it would be ignored in silence); a
    disabled plugin's are no concern of Nova's."""
    known = {cls.plugin_name for classes in handler_classes().values()
             for cls in classes}
    known |= {name.split('.', 1)[0] for name in _load_failures}
    known |= set(plugin.installed())  # (descriptors; hooks of their own)
    for name in sorted(enabled - known):
        report_once('unknown:%s' % name, '%s:load' % name,
                    'novahooks: enabled_plugins names %s, but no installed '
                    'plugin has that name: ignored (installed: %s)', name,
                    ', '.join(sorted(known)))
    for name, error in sorted(_load_failures.items()):
        owner = name.split('.', 1)[0]
        if owner not in enabled:
            continue
        if isinstance(error, extras.MissingExtra):
            report_once('load:%s' % owner, '%s:load' % owner,
                        'novahooks: %s; its handlers are skipped, the other '
                        'plugins run', error)
        else:
            report_once('load:%s' % name, '%s:load' % name,
                        'novahooks: cannot load handler entry point %s '
                        '(%s): %s: %s; skipped, the other plugins run', name,
                        NAMESPACE, type(error).__name__, error)


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


def origin(cls: type, default: Optional[str] = None) -> str:
    """The entry-point name ``cls`` was loaded from; else ``default``, or
    ``module:Class``."""
    found = _origin.get(cls, default)
    return found if found is not None else '%s:%s' % (cls.__module__,
                                                       cls.__qualname__)


def instance(cls: Type[NovaHook], phase: Phase) -> Optional[NovaHook]:
    """The process's instance of ``cls``, built once; ``None`` (logged
    once, counted) when building it raises."""
    if cls in _instances:
        return _instances[cls]
    try:
        made: Optional[NovaHook] = cls()
    except Exception as exc:
        made = None
        name = origin(cls)
        report_once('build:%s' % name, cls._names.get(phase, name),
                    'novahooks: cannot build handler %s (%s.%s): %s: %s; '
                    'skipped, the other plugins run', name, cls.__module__,
                    cls.__qualname__, type(exc).__name__, exc)
    _instances[cls] = made
    return made


def reset() -> None:
    """Forget loaded classes, built instances and reported failures
    (tests; :func:`novahooks_core.hooks.dispatch.reset` calls it)."""
    global _classes
    with _lock:
        _classes = None
        _origin.clear()
        _load_failures.clear()
        _instances.clear()
    with _report_lock:
        _reported.clear()
