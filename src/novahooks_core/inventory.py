"""What is installed: every ``nova.hooks`` entry point, every plugin
handler behind novahooks' dispatcher (``novahooks.hooks``), and who
provides them."""

import dataclasses
import functools
from typing import Any, Dict, List, Optional, Tuple

from stevedore import extension

from novahooks_core import config
from novahooks_core.hooks import dispatch, registry
from novahooks_core.hooks.base import NovaHook
from novahooks_core.runner import NAMESPACE


@dataclasses.dataclass(frozen=True)
class HookEntry:
    """One installed ``nova.hooks`` entry point."""

    hook: str
    target: str
    distribution: str
    plugin: Optional[str]
    error: Optional[str] = None
    namespace: str = NAMESPACE
    dispatcher: bool = False

    @property
    def enabled(self) -> Optional[bool]:
        """On or off for novahooks hooks; ``None`` for others' hooks."""
        if self.plugin is None:
            return None
        return config.is_enabled(self.plugin)

    @property
    def state(self) -> str:
        if self.error:
            return 'load failed: %s' % self.error
        if self.dispatcher:
            return 'dispatches to enabled plugins'
        if self.enabled is None:
            return 'not a novahooks hook'
        return 'enabled' if self.enabled else 'disabled'


@functools.lru_cache(maxsize=None)
def _distributions() -> Dict[Tuple[str, str, str], str]:
    from importlib import metadata
    owners = {}
    for dist in metadata.distributions():
        for ep in dist.entry_points:
            owners[(ep.group, ep.name, ep.value)] = dist.metadata['Name']
    return owners


def installed_hooks() -> List[HookEntry]:
    """Every ``nova.hooks`` entry point, then every dispatched handler."""
    return (_entries(NAMESPACE)
            + _entries(registry.NAMESPACE, key=lambda name: name.split(
                '.', 1)[-1]))


def _entries(namespace: str, key: Any = None) -> List[HookEntry]:
    """Entry points of ``namespace``, loaded but not instantiated;
    ``key`` maps an entry-point name to its hook name."""
    key = key or (lambda name: name)
    failures: List[HookEntry] = []

    def on_failure(manager: Any, entry_point: Any,
                   exc: BaseException) -> None:
        name = getattr(entry_point, 'name', '?')
        target = getattr(entry_point, 'value', None) or str(entry_point)
        failures.append(HookEntry(
            key(name), target,
            _distributions().get((namespace, name, target), '?'),
            None, '%s: %s' % (type(exc).__name__, exc), namespace))

    manager: Any = extension.ExtensionManager(
        namespace, invoke_on_load=False,
        on_load_failure_callback=on_failure)
    entries = []
    for ext in manager.extensions:
        target = ext.entry_point_target
        plugin = ext.plugin
        plugin_name = (plugin.plugin_name
                       if isinstance(plugin, type)
                       and issubclass(plugin, NovaHook) else None)
        entries.append(HookEntry(
            key(ext.name), target,
            _distributions().get((namespace, ext.name, target), '?'),
            plugin_name, None, namespace,
            isinstance(plugin, type)
            and issubclass(plugin, dispatch.Dispatcher)))
    return sorted(entries + failures, key=lambda e: (e.hook, e.target))
