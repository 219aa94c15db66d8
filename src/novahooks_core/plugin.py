"""Plugin descriptors: a plugin's name, options and health check.

A plugin registers a :class:`Plugin` subclass in the ``novahooks.plugins``
entry-point namespace under its name. Its options live in the config group
of the same name, registered by :func:`load`. Hooks of a plugin need no
descriptor to run; the descriptor is what ``novahooks check`` and
``novahooks hooks`` read.
"""

import dataclasses
from typing import Any, ClassVar, List, Optional, Sequence, Tuple, cast

from oslo_config import cfg
from stevedore import driver

from novahooks_core import config

NAMESPACE = 'novahooks.plugins'


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One line of ``novahooks check``."""

    plugin: str
    what: str
    ok: bool
    detail: str = ''


class Plugin:
    """Describes one plugin. Subclasses set ``name`` and may add options."""

    #: The plugin's name: in ``enabled_plugins`` and as its config group.
    name: ClassVar[str] = ''
    #: Options of the plugin's config group.
    options: ClassVar[Sequence[cfg.Opt]] = ()

    def check(self, conf: cfg.ConfigOpts) -> List[CheckResult]:
        """Check the plugin's backends; return one result per thing checked."""
        return []

    @classmethod
    def list_opts(cls) -> List[Tuple[Optional[str], List[cfg.Opt]]]:
        """The plugin's options, for ``oslo-config-generator``."""
        return [(cls.name, list(cls.options))] if cls.options else []


def installed() -> List[str]:
    """Names of every plugin registered in ``novahooks.plugins`` (without
    importing them)."""
    from importlib import metadata
    groups: Any = metadata.entry_points()
    if hasattr(groups, 'select'):
        found = groups.select(group=NAMESPACE)
    else:  # Python < 3.10: a dict of groups
        found = groups.get(NAMESPACE, ())
    return sorted({ep.name for ep in found})


def load(name: str) -> Plugin:
    """The plugin registered as ``name``, with its options registered."""
    plugin = cast(Plugin, driver.DriverManager(
        NAMESPACE, name, invoke_on_load=True).driver)
    if plugin.options:
        config.register_plugin_opts(plugin.name, plugin.options)
    return plugin
