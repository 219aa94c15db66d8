"""Plugin descriptors: a plugin's name, options and health check.

A plugin registers a :class:`Plugin` subclass in the ``novahooks.plugins``
entry-point namespace under its name. Its options are declared there
(:attr:`Plugin.options`, as os-vif plugins declare ``CONFIG_OPTS``) and live
in the config group of the same name; :func:`configured` registers them,
and is the one way a plugin's code gets its configuration. The descriptor
is also what ``novahooks check``, ``hooks``, ``metrics`` and ``db sync``
read.
"""

import dataclasses
import threading
from typing import (
    Any,
    Callable,
    ClassVar,
    Dict,
    Generic,
    List,
    Optional,
    Sequence,
    Tuple,
    Type,
    TypeVar,
    cast,
)

from oslo_config import cfg
from stevedore import driver

from novahooks_core import config, extras

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

    def gauges(self) -> List[Any]:
        """The plugin's state as
        :class:`novahooks_core.containment.metrics.Gauge` values (queue
        depths, ages, counts), for ``/metrics`` and ``novahooks metrics``;
        read when asked."""
        return []

    def prune(self, before: Any) -> List[Tuple[str, int]]:
        """Forget what is older than ``before`` (a naive UTC datetime) and
        no longer needed (``novahooks prune``): (what, how many) rows."""
        return []

    def schemas(self) -> List[Any]:
        """The plugin's database schemas
        (:class:`novahooks_core.state.db.Schema`), for ``novahooks db
        sync``."""
        return []

    def settle(self, budget: float) -> List[str]:
        """Finish the work left to background threads (``novahooks simulate
        --live`` before it exits), within ``budget`` seconds; returns what
        is still left, for the operator (it stays durably queued)."""
        return []

    def scratch(self, conf: cfg.ConfigOpts, directory: str) -> List[str]:
        """Point this plugin at a throw-away ``directory`` for ``novahooks
        simulate`` (its options registered): nothing it does may reach the
        configured backends or state. Returns what was changed, for the
        operator. By default a ``database_url`` is emptied (SQLite in the
        throw-away state dir)."""
        group = getattr(conf, self.name, None)
        if group is not None and 'database_url' in group:
            conf.set_override('database_url', '', group=self.name)
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


def enabled() -> List[str]:
    """The enabled plugins that have a descriptor (``novahooks.plugins``),
    sorted: those whose ``schemas``, ``gauges``, ``prune``, ``scratch``
    and ``settle`` exist."""
    found = installed()
    return [name for name in sorted(config.enabled_plugins())
            if name in found]


_lock = threading.Lock()
#: Descriptor classes by plugin name, loaded once per process.
_classes: Dict[str, Type[Plugin]] = {}
#: The configuration each plugin's options were last registered on.
_registered: Dict[str, cfg.ConfigOpts] = {}


def _descriptor(name: str) -> Type[Plugin]:
    """Plugin ``name``'s descriptor class; one whose extra is not installed
    raises :class:`~novahooks_core.extras.MissingExtra` (its pip line)."""
    found = _classes.get(name)
    if found is None:
        try:
            found = cast(Type[Plugin], driver.DriverManager(
                NAMESPACE, name, invoke_on_load=False).driver)
        except ImportError as exc:
            lacking = extras.missing('plugin %s' % name, exc, name)
            if lacking is None:
                raise
            raise lacking from None
        with _lock:
            _classes[name] = found
    return found


def configured(name: str) -> cfg.ConfigOpts:
    """The configuration with plugin ``name``'s options (its descriptor's
    :attr:`Plugin.options`) registered in its group: registered once per
    configuration, since oslo.config empties its value cache on every
    registration."""
    conf = config.get()
    if _registered.get(name) is not conf:
        options = _descriptor(name).options
        if options:
            config.register_plugin_opts(name, options)
        with _lock:
            _registered[name] = conf
    return conf


def load(name: str) -> Plugin:
    """The plugin registered as ``name``, with its options registered."""
    configured(name)
    return _descriptor(name)()


T = TypeVar('T')


class ProcessLocal(Generic[T]):
    """A plugin's shared service: built on first use, once per process,
    configuration and :func:`~novahooks_core.config.read_only` mode (a
    reloaded configuration builds it anew, and the old one's ``close()``
    is called, if it has one). Cheap on the hot path: no lock once
    built."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._current: Optional[Tuple[Any, bool, T]] = None

    def get(self) -> T:
        conf = config.get()
        read_only = config.read_only()
        current = self._current
        if current is not None and current[0] is conf \
                and current[1] is read_only:
            return current[2]
        with self._lock:
            current = self._current
            if current is None or current[0] is not conf \
                    or current[1] is not read_only:
                if current is not None:
                    _close(current[2])
                current = self._current = (conf, read_only, self._build())
            return current[2]

    def reset(self) -> None:
        """Forget the service (tests, or after a fork)."""
        current, self._current = self._current, None
        if current is not None:
            _close(current[2])


def _close(service: Any) -> None:
    close = getattr(service, 'close', None)
    if close is not None:
        close()
