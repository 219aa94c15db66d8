"""Configuration: files layered the oslo.config way, read once per process
with our own ConfigOpts.

Never Nova's global ``CONF``. The default file is ``$NOVAHOOKS_CONFIG``, else
:data:`DEFAULT_CONFIG_FILE` (absent: built-in defaults); then the ``*.conf``
files of the directory beside it, named after it with ``.d``
(``/etc/nova/novahooks.conf.d``), in name order. On the command line,
``--config-file`` (repeatable) replaces the default file and ``--config-dir``
(repeatable) the default directory; oslo.config merges them all, a later
file's value winning. Inside Nova nothing is read until the first enabled
hook runs.
"""

import glob
import os
import re
import threading
from typing import Dict, FrozenSet, List, Optional, Sequence, Tuple

from oslo_config import cfg
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

DEFAULT_CONFIG_FILE = '/etc/nova/novahooks.conf'
CONFIG_ENV = 'NOVAHOOKS_CONFIG'
DEFAULT_STATE_DIR = os.path.join('~', '.local', 'state', 'novahooks')

CORE_OPTS = [
    cfg.ListOpt('enabled_plugins', default=['audit'],
                help='Plugins whose hooks run, by name: audit (built in), '
                     'dns, storage, netinfo, or the plugin_name of your own '
                     'NovaHook subclasses. Hooks of other plugins stay '
                     'installed but cost Nova next to nothing.'),
    cfg.StrOpt('state_dir', default=DEFAULT_STATE_DIR,
               help='Directory for embedded databases and files. "~" is '
                    'the home of the user Nova runs as.'),
    cfg.BoolOpt('allow_veto', default=False,
                help='Let plugins refuse a create_instance or '
                     'build_instance call (raised to Nova as its '
                     'FatalHookException). Off: a refusal is only logged.'),
    cfg.FloatOpt('slow_hook_threshold_ms', default=100.0, min=0.0,
                 help='Log a WARNING when one handler call takes longer '
                      'than this many milliseconds.'),
    cfg.FloatOpt('write_budget_ms', default=500.0, min=0.0,
                 help='Longest a hook waits for a plugin\'s database '
                      '(locked, unreachable, slow) before it keeps the '
                      'write in the plugin\'s spool under state_dir, to be '
                      'replayed in order later. Nothing is lost either '
                      'way; this bounds what Nova waits.'),
    cfg.FloatOpt('retention_days', default=0.0, min=0.0,
                 help='What "novahooks prune" forgets: netinfo history '
                      'older than this many days, and the state of '
                      'instances deleted longer ago (not a retained '
                      'volume\'s). 0: keep everything (prune needs --days).'),
    cfg.StrOpt('metrics_dir', default='',
               help='Directory of node_exporter\'s textfile collector: each '
                    'process running hooks writes its handlers\' counters '
                    'and durations to novahooks-<pid>.prom there. Empty: '
                    'off.'),
    cfg.FloatOpt('metrics_interval_seconds', default=15.0, min=1.0,
                 help='Longest a process waits before writing its metrics '
                      'textfile again (metrics_dir).'),
]

_lock = threading.Lock()
_load_lock = threading.Lock()  # one first load, however many callers
_conf: Optional[cfg.ConfigOpts] = None
_enabled: Optional[FrozenSet[str]] = None
_load_error: Optional[str] = None
_slow_seconds: Optional[float] = None
#: Plugins switched off in this process (:func:`disable`), and why.
_disabled: Dict[str, str] = {}
#: The oslo.config arguments (``--config-file``/``--config-dir``) of the
#: configuration loaded last.
_args: List[str] = []


def new_conf() -> cfg.ConfigOpts:
    """A fresh ConfigOpts with the core options registered."""
    conf = cfg.ConfigOpts()
    conf.register_opts(CORE_OPTS)
    return conf


def config_file(explicit: Optional[str] = None) -> Tuple[str, bool]:
    """The file to read and whether the operator named it explicitly."""
    if explicit:
        return explicit, True
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return from_env, True
    return DEFAULT_CONFIG_FILE, False


def defaults() -> Tuple[List[str], List[str]]:
    """oslo.config's ``default_config_files`` and ``default_config_dirs``:
    ``$NOVAHOOKS_CONFIG`` (which must exist) or :data:`DEFAULT_CONFIG_FILE`
    (when it exists), and the directory beside that file named after it
    with ``.d`` (read when it exists)."""
    path, explicit = config_file()
    files = [path] if explicit or os.path.isfile(path) else []
    return files, [path + '.d']


def config_args(files: Sequence[str] = (), dirs: Sequence[str] = ()
                ) -> List[str]:
    """oslo.config arguments naming ``files`` then ``dirs``."""
    args: List[str] = []
    for path in files:
        args += ['--config-file', path]
    for path in dirs:
        args += ['--config-dir', path]
    return args


def parse(conf: cfg.ConfigOpts, args: Sequence[str] = (),
          validate_default_values: bool = False) -> None:
    """Let oslo.config read the files into ``conf``: those of ``args``
    (``--config-file PATH`` and ``--config-dir DIR``, in their order) or,
    for what ``args`` does not name, the :func:`defaults`."""
    files, dirs = defaults()
    conf(args=list(args), project='novahooks', default_config_files=files,
         default_config_dirs=dirs,
         validate_default_values=validate_default_values)


def _fixpath(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))


def _dir_files(path: str) -> List[str]:
    return sorted(glob.glob(os.path.join(_fixpath(path), '*.conf')))


def files_read(args: Optional[Sequence[str]] = None) -> List[str]:
    """The files :func:`parse` reads for ``args`` (default: those of the
    configuration loaded last), in oslo.config's order: the default file
    unless ``args`` names a file, the default directory's files unless it
    names a directory, then what ``args`` names, in its order (a
    directory's ``*.conf`` files by name). Files that do not exist are left
    out."""
    args = list(_args if args is None else args)
    named = list(zip(args[::2], args[1::2]))
    files, dirs = defaults()
    found: List[str] = []
    if not any(flag == '--config-file' for flag, _ in named):
        found += [_fixpath(path) for path in files]
    if not any(flag == '--config-dir' for flag, _ in named):
        for path in dirs:
            found += _dir_files(path)
    for flag, path in named:
        found += ([_fixpath(path)] if flag == '--config-file'
                  else _dir_files(path))
    return [path for path in found if os.path.isfile(path)]


def load(explicit_file: Optional[str] = None,
         conf: Optional[cfg.ConfigOpts] = None,
         args: Sequence[str] = ()) -> cfg.ConfigOpts:
    """Parse the configuration into ``conf`` and make it the process's:
    ``explicit_file``, then the files and directories of ``args``
    (``--config-file PATH``, ``--config-dir DIR``, see :func:`parse`).

    Raises ``oslo_config.cfg.Error`` (or ``OSError``) when a named file or
    directory is missing, or a file is invalid; callers inside Nova use
    :func:`get` instead.
    """
    global _conf, _enabled, _load_error, _slow_seconds, _args
    conf = conf if conf is not None else new_conf()
    args = (config_args([explicit_file]) if explicit_file else []) + list(
        args)
    parse(conf, args, validate_default_values=True)
    for opt in CORE_OPTS:
        getattr(conf, opt.dest)  # values are checked on access: check now
    enabled = frozenset(n.strip() for n in conf.enabled_plugins if n.strip())
    with _lock:
        _conf, _enabled, _load_error = conf, enabled, None
        _slow_seconds = None
        _args = args
        _disabled.clear()
    return conf


def override_enabled(plugins: Sequence[str]) -> None:
    """Enable exactly ``plugins`` in this process (``novahooks simulate
    --plugins``), whatever the file says."""
    global _enabled
    conf = get()
    conf.set_override('enabled_plugins', list(plugins))
    with _lock:
        _enabled = frozenset(p for p in plugins if p)


_BAD_VALUE = re.compile(r'Value for option (\S+) from .* is not valid: (.*)$',
                        re.S)


def explain(exc: BaseException) -> str:
    """An oslo.config error in one short line: a file or directory that
    cannot be read, named; a bad value: where (``file:line [section]
    option``) and what it must be, without oslo.config's location
    object."""
    if isinstance(exc, cfg.ConfigFilesNotFoundError):
        return 'configuration file not found: %s' % ', '.join(
            exc.config_files)
    if isinstance(exc, cfg.ConfigFilesPermissionDeniedError):
        return 'configuration file not readable (permission denied): %s' % (
            ', '.join(exc.config_files))
    if isinstance(exc, cfg.ConfigDirNotFoundError):
        return 'configuration directory not found: %s' % exc.config_dir
    if isinstance(exc, cfg.ConfigFileParseError):
        return 'cannot parse configuration file %s: %s' % (
            exc.config_file, ' '.join(str(exc.msg).split()))
    if isinstance(exc, OSError) and exc.filename:
        return 'cannot read configuration file %s: %s' % (
            exc.filename, exc.strerror)
    found = _BAD_VALUE.match(str(exc))
    if found is None:
        return ' '.join(str(exc).split())
    from novahooks_core import confcheck
    return (confcheck.explain_value(found.group(1), files_read())
            or 'option %s is not valid: %s' % found.groups())


def describe(exc: BaseException) -> str:
    """An error for an operator: a configuration error as :func:`explain`
    says it (one line); anything else as ``Type: message``. Not masked,
    and a driver's message may span lines: log it with
    :func:`novahooks_core.containment.redact.one_line`."""
    if isinstance(exc, cfg.Error):
        return explain(exc)
    if isinstance(exc, NotSynced):
        return str(exc)
    return '%s: %s' % (type(exc).__name__, exc)


def disable(plugin: str, reason: str) -> bool:
    """Switch ``plugin`` off in this process (a value of its configuration
    cannot be read): whether it was on."""
    global _enabled
    with _lock:
        if _enabled is None or plugin not in _enabled:
            return False
        _enabled = _enabled - {plugin}
        _disabled[plugin] = reason
    return True


def disabled() -> Dict[str, str]:
    """Plugins switched off in this process, and why."""
    with _lock:
        return dict(_disabled)


def slow_seconds() -> float:
    """``slow_hook_threshold_ms`` in seconds, cached (read per call)."""
    global _slow_seconds
    if _slow_seconds is None:
        _slow_seconds = get().slow_hook_threshold_ms / 1000.0
    return _slow_seconds


def write_budget() -> float:
    """``write_budget_ms`` in seconds."""
    return float(get().write_budget_ms) / 1000.0


def get() -> cfg.ConfigOpts:
    """The process's configuration, loaded on first use.

    A file that cannot be read or parsed is logged once as an ERROR and
    every plugin is treated as disabled: guessing an operator's intent is
    worse than doing nothing, and Nova must not fail because of us.
    """
    global _conf, _enabled, _load_error
    conf = _conf
    if conf is not None:
        return conf
    with _load_lock:
        if _conf is not None:
            return _conf
        try:
            return load()
        except Exception as exc:
            files, dirs = defaults()
            path = ', '.join(files + [os.path.join(d, '*.conf')
                                      for d in dirs if os.path.isdir(d)])
            message = '%s: %s' % (type(exc).__name__, exc)
            with _lock:
                _conf, _enabled, _load_error = (new_conf(), frozenset(),
                                                message)
            LOG.error('novahooks: cannot read configuration %s (%s); all '
                      'novahooks plugins are disabled until this is fixed '
                      'and Nova is restarted', path, message)
            return _conf


def current() -> Optional[cfg.ConfigOpts]:
    """The loaded configuration, without loading it."""
    return _conf


def load_error() -> Optional[str]:
    """Why the configuration could not be read, if it could not."""
    return _load_error


def enabled_plugins() -> FrozenSet[str]:
    """Names of the enabled plugins (loads the configuration if needed)."""
    enabled = _enabled
    if enabled is None:
        get()
        enabled = _enabled
    return enabled or frozenset()


def is_enabled(plugin: str) -> bool:
    """Whether hooks of ``plugin`` run. Cheap after the first call."""
    enabled = _enabled
    if enabled is None:
        enabled = enabled_plugins()
    return plugin in enabled


def database_url_opt(holds: str, name: str) -> cfg.StrOpt:
    """The ``database_url`` option of a plugin whose database ``holds``
    what it says; empty means SQLite at ``<state_dir>/<name>.sqlite``.
    Secret: its password is never shown."""
    return cfg.StrOpt(
        'database_url', default='', secret=True,
        help='SQLAlchemy URL of %s; empty: SQLite at <state_dir>/%s.sqlite.'
             % (holds, name))


def register_plugin_opts(group: str,
                         opts: Sequence[cfg.Opt]) -> cfg.ConfigOpts:
    """Register a plugin's options in its group; returns the config."""
    conf = get()
    conf.register_opts(list(opts), group=group)
    return conf


class NotSynced(Exception):
    """Read-only: the state (a directory, a database, its schema) does not
    exist yet, or is older than this release; ``novahooks db sync``
    makes it."""


_read_only = False


def read_only() -> bool:
    """Whether this process only reads state (a read-only command): it
    creates no directory or database and migrates none
    (:class:`NotSynced` instead)."""
    return _read_only


def set_read_only(value: bool) -> None:
    global _read_only
    _read_only = value


def state_dir(create: Optional[bool] = None) -> str:
    """The expanded state directory, created (mode 0700) when asked (by
    default unless :func:`read_only`)."""
    path = os.path.expanduser(str(get().state_dir))
    if create is None:
        create = not _read_only
    if create:
        os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def reset() -> None:
    """Forget the loaded configuration (tests, or a reload)."""
    global _conf, _enabled, _load_error, _slow_seconds, _args, _read_only
    with _lock:
        _conf, _enabled, _load_error, _slow_seconds = None, None, None, None
        _args = []
        _read_only = False
        _disabled.clear()


def list_opts() -> List[Tuple[Optional[str], List[cfg.Opt]]]:
    """Core options, for ``oslo-config-generator`` (namespace novahooks)."""
    return [(None, list(CORE_OPTS))]
