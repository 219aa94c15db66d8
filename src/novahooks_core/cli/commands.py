"""Core subcommands: ``hooks``, ``config sample``, ``check``, ``simulate``,
``db sync``, ``metrics``, ``prune`` (``listen`` ones: :mod:`.listen`)."""

import argparse
import collections
import contextlib
import datetime
import difflib
import logging as logging_std
import os
import re
import shutil
import sys
import tempfile
import time
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple
import warnings

from cliff import command
from oslo_config import cfg, generator
from oslo_log import log as logging
from oslo_utils import timeutils
from stevedore import extension

from novahooks_core import confcheck, config, extras, inventory, plugin
from novahooks_core.cli import base
from novahooks_core.containment import isolation, redact
from novahooks_core.lifecycle import run_lifecycle
from novahooks_core.models import Outcome
from novahooks_core.plugin import CheckResult
from novahooks_core.runner import HookRun, NovaRunner

LOG = logging.getLogger(__name__)

Rows = Tuple[Tuple[str, ...], List[Tuple[Any, ...]]]


class ListHooks(base.Lister):
    """List every nova.hooks entry point and every plugin handler.

    novahooks registers one dispatcher per hook point in nova.hooks; its
    plugins' handlers are in novahooks.hooks and run when enabled.
    """

    READ_ONLY = True

    def take_action(self, parsed_args: Any) -> Rows:
        rows = [(entry.hook, entry.namespace, entry.target,
                 entry.distribution, entry.plugin or '', entry.state)
                for entry in inventory.installed_hooks()]
        return (('Hook', 'Namespace', 'Class', 'Distribution', 'Plugin',
                 'State'), rows)


class ConfigSample(command.Command):
    """Print a complete sample configuration file."""

    def take_action(self, parsed_args: Any) -> int:
        missing: List[str] = []

        def skip(manager: Any, entry_point: Any, exc: BaseException) -> None:
            missing.append('%s (%s)' % (entry_point.name, exc))

        # Plugins whose extra is not installed have no options to show.
        with warnings.catch_warnings():  # (oslo.messaging's imports warn)
            warnings.simplefilter('ignore')
            loaded: Any = extension.ExtensionManager(
                'oslo.config.opts', invoke_on_load=False,
                on_load_failure_callback=skip)
        namespaces = sorted(
            name for name in loaded.names()
            if name == 'novahooks' or name.startswith('novahooks.')
        ) + [name for name in ('oslo.log',) if name in loaded.names()]
        for note in missing:
            if note.startswith('novahooks'):
                self.app.stderr.write('skipped %s: install the plugin\'s '
                                      'extra, e.g. novahooks[dns]\n' % note)
        gen_conf = cfg.ConfigOpts()
        generator.register_cli_opts(gen_conf)
        args = ['--wrap-width', '79']
        for namespace in namespaces:
            args += ['--namespace', namespace]
        gen_conf(args, project='novahooks', default_config_files=[])
        generator.generate(gen_conf, output_file=self.app.stdout)
        return 0


def _state_dir_check() -> CheckResult:
    path = config.state_dir(create=False)
    if not os.path.isdir(path):
        parent = path
        while parent != os.path.dirname(parent) and not os.path.isdir(parent):
            parent = os.path.dirname(parent)
        return CheckResult('core', 'state_dir writable', os.access(
            parent, os.W_OK), '%s does not exist yet (made by "novahooks db '
            'sync" or the first hook), %s %s writable' % (
                path, parent, 'is' if os.access(parent, os.W_OK)
                else 'is NOT'))
    try:
        with tempfile.NamedTemporaryFile(dir=path):
            pass
        return CheckResult('core', 'state_dir writable', True, path)
    except OSError as exc:
        return CheckResult('core', 'state_dir writable', False, str(exc))


def _sections(paths: Sequence[str]) -> Dict[str, Dict[str, List[str]]]:
    """The sections and options of ``paths`` merged, a later file's values
    after an earlier one's."""
    merged: Dict[str, Dict[str, List[str]]] = {}
    for path in paths:
        for section, options in confcheck.read(path).items():
            for name, values in options.items():
                merged.setdefault(section, {}).setdefault(name, []).extend(
                    values)
    return merged


def _file_checks(paths: Sequence[str]) -> List[CheckResult]:
    """Unknown sections and options (each file's, named when there are
    several), and values that cannot be read (as merged)."""
    if not paths:
        return []
    options, missing = confcheck.known_options()
    options = confcheck.expand(options, _sections(paths))
    known = confcheck.names(options)
    found: List[Tuple[str, str]] = []
    for path in paths:
        found += [(where if len(paths) == 1 else '%s: %s' % (path, where),
                   why) for where, why in confcheck.unknown(
                       confcheck.read(path), known, missing)]
    found += [(bad.place, bad.problem)
              for bad in confcheck.bad_values(paths, options)]
    return [CheckResult('core', 'configuration', False, '%s: %s' % item)
            for item in found]


def _listen_checks(paths: Sequence[str]) -> List[CheckResult]:
    """The listener's buses, when the files set ``[listen] transport_url``
    or ``transport_urls`` (or Neutron's)."""
    listen = _sections(paths).get('listen', {})
    if not {'transport_url', 'transport_urls',
            'neutron_transport_url'} & set(listen):
        return []
    try:
        with base.needs('check of [listen]', 'listen'):
            from novahooks_core.notify.options import configured
            from novahooks_core.notify.transport import check_transport
            return list(check_transport(configured()))
    except base.MissingExtra as exc:
        return [CheckResult('listen', 'transport', False, str(exc))]


def _readable(name: str, descriptor: plugin.Plugin) -> bool:
    """Whether every option of plugin ``name``'s group can be read."""
    group = config.get()[name] if descriptor.options else None
    try:
        for opt in descriptor.options:
            getattr(group, opt.dest)
    except cfg.ConfigFileValueError:
        return False
    return True


def _plugin_checks(name: str,
                   hooks: List[inventory.HookEntry]) -> Iterable[CheckResult]:
    mine = [h for h in hooks if h.plugin == name and not h.error]
    if name in plugin.installed():
        try:
            descriptor = plugin.load(name)
            yield CheckResult(name, 'plugin loads', True)
            if _readable(name, descriptor):
                yield from descriptor.check(config.get())
            else:
                yield CheckResult(name, 'backends', False, 'not checked: a '
                                  'value of [%s] cannot be read (above)'
                                  % name)
        except extras.MissingExtra as exc:
            yield CheckResult(name, 'plugin loads', False, str(exc))
        except Exception as exc:
            yield CheckResult(name, 'plugin loads', False,
                              config.describe(exc))
    elif not mine:
        yield CheckResult(name, 'plugin installed', False,
                          'no novahooks.plugins entry point and no nova.hooks '
                          'class with plugin_name %r' % name)
    yield CheckResult(name, 'hooks visible to stevedore', bool(mine),
                      ', '.join(sorted(h.hook for h in mine)) or 'none')


class Check(base.Lister):
    """Check the configuration, the state directory and every enabled plugin.

    Exits non-zero when any check fails.
    """

    READ_ONLY = True

    def take_action(self, parsed_args: Any) -> Rows:
        paths = config.files_read()
        results = [CheckResult(
            'core', 'configuration', True,
            ', '.join(paths) if paths else 'built-in defaults (%s absent)'
            % config.config_file()[0])] + _file_checks(paths) + [
                _state_dir_check()]
        hooks = inventory.installed_hooks()
        results += [CheckResult('core', 'hook entry point loads',
                                False, '%s: %s' % (h.target, h.error))
                    for h in hooks if h.error]
        dispatched = {h.hook for h in hooks if h.dispatcher}
        results.append(CheckResult(
            'core', 'dispatcher in nova.hooks', len(dispatched) == 4,
            ', '.join(sorted(dispatched)) or 'none'))
        for name in sorted(config.enabled_plugins()):
            results += _plugin_checks(name, hooks)
        results += _listen_checks(paths)
        self.failed = [r for r in results if not r.ok]
        secrets = redact.configured_secrets(config.get())
        return (('Plugin', 'Check', 'OK', 'Detail'),
                [(r.plugin, r.what, 'yes' if r.ok else 'NO',
                  redact.scrub(r.detail, secrets)) for r in results])


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError('%r is not a whole number >= 1'
                                         % text)
    return value


def known_plugins() -> List[str]:
    """Plugins that can be enabled: a ``novahooks.plugins`` descriptor, or
    hook classes naming them."""
    return sorted(set(plugin.installed()) | {
        h.plugin for h in inventory.installed_hooks() if h.plugin})


def _our_extras() -> List[str]:
    """The extras this build of novahooks offers (its plugins'
    names)."""
    from importlib import metadata
    try:
        return list(metadata.metadata('novahooks').get_all(
            'Provides-Extra') or [])
    except metadata.PackageNotFoundError:
        return []


def start_problems(paths: Sequence[str], values: bool = True
                   ) -> Tuple[List[str], List[str]]:
    """What a long-running command (``listen``, ``simulate --live``)
    says as it starts, from the configuration files ``paths``:
    (warnings: sections and options nothing reads; errors: values that
    cannot be read (unless not ``values``), enabled plugins that are not
    installed or lack their extra), each one line."""
    options, missing = confcheck.known_options()
    known = confcheck.names(options)
    warnings = ['%s: %s' % item for path in paths
                for item in confcheck.unknown(confcheck.read(path), known,
                                              missing)]
    errors = (['%s: %s' % (bad.place, bad.problem)
               for bad in confcheck.bad_values(paths, options)]
              if values else [])
    installed = known_plugins()
    for name in sorted(config.enabled_plugins()):
        if name not in installed:
            errors.append(
                "enabled_plugins names %s, which is not installed: pip "
                "install 'novahooks[%s]'" % (name, name)
                if name in _our_extras() else
                'enabled_plugins names %s: no installed plugin has that '
                'name%s' % (name, confcheck.hint(name, installed) or
                            ' (installed: %s)' % ', '.join(installed)))
        elif name in plugin.installed():
            try:
                plugin.load(name)
            except extras.MissingExtra as exc:
                errors.append(str(exc))
    return warnings, errors


def said_at_start(command: str, paths: Sequence[str], values: bool = True
                  ) -> List[str]:
    """Log :func:`start_problems` (one WARNING or ERROR line each);
    return the errors."""
    warnings, errors = start_problems(paths, values)
    for text in warnings:
        LOG.warning('novahooks %s: %s', command, text)
    for text in errors:
        LOG.error('novahooks %s: %s', command, text)
    return errors


def _plugins(text: str) -> List[str]:
    """``--plugins`` as names, each one installed (else a usage error with
    a "did you mean")."""
    names = [n.strip() for n in text.split(',') if n.strip()]
    known = known_plugins()
    unknown = [n for n in names if n not in known]
    if unknown:
        hints = ['%s (did you mean %s?)' % (n, close[0]) if close else n
                 for n in unknown
                 for close in [difflib.get_close_matches(n, known, 1)]]
        raise base.UsageError('--plugins: unknown plugin(s) %s; installed: '
                              '%s' % (', '.join(hints), ', '.join(known)))
    return names


def use_scratch(directory: str) -> List[str]:
    """Point the state dir and every enabled plugin at ``directory`` (see
    :meth:`Plugin.scratch`); returns what the operator should know."""
    conf = config.get()
    conf.set_override('state_dir', directory)
    notes: List[str] = []
    described = set(plugin.enabled())
    for name in sorted(config.enabled_plugins()):
        if name not in described:
            notes.append('plugin %s has no descriptor: it runs as '
                         'configured' % name)
            continue
        try:
            notes += plugin.load(name).scratch(conf, directory)
        except extras.MissingExtra:
            pass  # said before anything runs (Simulate._sync_schemas)
        except Exception as exc:
            notes.append('plugin %s cannot be loaded (%s)' % (
                name, type(exc).__name__))
    return notes


#: Instances from which simulate shows its progress (on a terminal).
PROGRESS_FROM = 50
#: How long ``simulate --live`` waits for plugins' background work.
SETTLE_SECONDS = 10.0


class Simulate(base.Lister):
    """Drive a whole instance lifecycle through the installed hooks.

    Hooks are loaded from the nova.hooks entry points by stevedore and run
    with Nova's exact semantics: create, build (with network allocation), a
    periodic network-info heal, and delete (with deallocation).

    By default it runs in a throw-away state dir (removed at the end), DNS
    to a hosts file there: a safe smoke test. --live uses the configured
    state and backends. The table (100 columns) sums up each handler,
    then each plugin's records added and removed over the whole
    lifecycle; -f json (yaml, csv...) lists every call. Exits 1 when a
    handler errored.
    """

    def get_parser(self, prog_name: str) -> Any:
        parser = super().get_parser(prog_name)
        parser.add_argument('--release', type=int, default=21,
                            choices=range(12, 22), metavar='12..21',
                            help='Nova release whose argument shapes to use')
        parser.add_argument('--count', type=_count, default=1,
                            help='instances in the create request (>= 1)')
        parser.add_argument('--plugins', metavar='NAME[,NAME...]',
                            help='enable exactly these plugins for this run '
                                 '(default: enabled_plugins)')
        parser.add_argument('--live', action='store_true',
                            help='use the configured state dir and backends '
                                 '(DNS servers, databases) instead of a '
                                 'throw-away state dir')
        return parser

    def take_action(self, parsed_args: Any) -> Rows:
        if parsed_args.plugins is not None:
            config.override_enabled(_plugins(parsed_args.plugins))
        scratch = None
        if parsed_args.live:
            # (a bad value switches its plugin off, said then)
            said_at_start('simulate --live', config.files_read(),
                          values=False)
        else:
            scratch = tempfile.mkdtemp(prefix='novahooks-simulate-')
            notes = use_scratch(scratch)
            if self.app.options.verbose_level:  # (not with -q)
                self.app.stderr.write(
                    'novahooks simulate: in a throw-away state dir, %s '
                    '(removed at the end)%s; --live uses the configured state '
                    'and backends\n' % (scratch, ''.join('; ' + n
                                                         for n in notes)))
        runner = NovaRunner()
        try:
            self._sync_schemas()
            with self._progress(parsed_args.count) as progress:
                run_lifecycle(runner, release=parsed_args.release,
                              count=parsed_args.count, progress=progress)
            if scratch is None:
                for name in plugin.enabled():
                    self._settle(name)
        finally:
            if scratch is not None:
                # (Loaded only by plugins with a database: an extra.)
                loaded = sys.modules.get('novahooks_core.state.db')
                if loaded is not None:
                    loaded.reset()
                shutil.rmtree(scratch, ignore_errors=True)
        self.failed = self.failed or any(
            run.outcome == Outcome.ERROR for run in runner.runs)
        if parsed_args.formatter == 'table':
            return summary(runner.runs)
        rows = [(step, run.hook, run.phase, run.target, run.handler,
                 run.outcome, '%.3f' % (run.seconds * 1000.0),
                 run.summary or '')
                for step, run in enumerate(runner.runs, 1)]
        return (('Step', 'Hook', 'Phase', 'Class', 'Handler', 'Outcome',
                 'ms', 'Summary'), rows)

    def _settle(self, name: str) -> None:
        """Let plugin ``name`` finish its background work; a failure is one
        line (secrets scrubbed) and exit 1, never a traceback."""
        try:
            notes = plugin.load(name).settle(SETTLE_SECONDS)
        except Exception as exc:
            self.failed = True
            notes = ['%s: cannot finish its background work: %s' % (
                name, redact.scrub('%s: %s' % (type(exc).__name__, exc)))]
        for note in notes:
            self.app.stderr.write('novahooks simulate: %s\n' % note)

    def _sync_schemas(self) -> None:
        """As a deployment runs: the databases synced first (db sync).
        Plugins whose extras are missing stop the run, said in one line
        with the pip command (exit 2); a plugin that cannot be set up is
        said once (its handlers then fail the same way, counted in the
        table, not said again)."""
        lacking = []
        for name in plugin.enabled():
            failure = _sync(name)
            if failure is None:
                continue
            found = extras.missing('plugin %s' % name, failure, name)
            if found is not None:
                lacking.append(found)
            elif isinstance(failure, cfg.ConfigFileValueError):
                self.failed = True  # its first call switches it off, said
            else:
                self.failed = True
                isolation.report('%s:setup' % name, failure, call=False)
        if lacking:
            raise extras.together(lacking)

    def _progress(self, count: int) -> Any:
        """A progress line on standard error, when it is a terminal and the
        run is long (else nothing)."""
        stream = self.app.stderr
        if count < PROGRESS_FROM or not getattr(stream, 'isatty',
                                                lambda: False)():
            return contextlib.nullcontext(lambda done, total: None)
        return ProgressLine(stream, 'simulate', 'builds and deletes')


class ProgressLine:
    """A progress line that owns the terminal's last line: done, rate and
    time left; while it is shown, what logging writes to the same stream
    goes above it. A context manager giving ``show(done, total)``."""

    def __init__(self, stream: Any, name: str, what: str) -> None:
        self.stream, self.name, self.what = stream, name, what
        self.line = ''
        self.started = time.monotonic()
        self._handlers: List[Tuple[Any, Any]] = []

    def __enter__(self) -> Any:
        for handler in logging_std.getLogger().handlers:
            if isinstance(handler, logging_std.StreamHandler) and \
                    handler.stream in (self.stream, sys.stderr):
                self._handlers.append((handler, handler.setStream(self)))
        self.show(0, 0)
        return self.show

    def __exit__(self, *exc: Any) -> None:
        for handler, stream in self._handlers:
            handler.setStream(stream)
        if self.line:
            self.stream.write('\n')
            self.stream.flush()

    def show(self, done: int, total: int) -> None:
        elapsed = time.monotonic() - self.started
        if not total:
            text = '%s: starting' % self.name
        else:
            rate = done / elapsed if elapsed > 0 else 0.0
            left = ((total - done) / rate) if rate else 0.0
            text = '%s: %3d%% (%d of %d %s), %.0f/s, %s' % (
                self.name, 100 * done // total, done, total, self.what, rate,
                'done in %.0f s' % elapsed if done == total
                else 'about %.0f s left' % left)
        self.line = '\r%s\x1b[K' % text
        self.stream.write(self.line)
        self.stream.flush()

    def write(self, text: str) -> None:
        """Logging's output: above the progress line, which is shown
        again under it."""
        self.stream.write('\r\x1b[K' + text)
        if text.endswith('\n'):
            self.stream.write(self.line)

    def flush(self) -> None:
        self.stream.flush()


def _sync(name: str) -> Optional[Exception]:
    """Sync plugin ``name``'s databases; what went wrong, if anything."""
    try:
        for schema in plugin.load(name).schemas():
            schema.sync()
    except Exception as exc:
        return exc
    return None


#: Longest summary shown per row of simulate's table (the table fits 100
#: columns; -f json has each call's whole summary).
SUMMARY_WIDTH = 28

#: What a handler's summary counts (``2 added, 0 removed``).
_COUNTED = re.compile(r'(\d+) (added|removed)\b')


def _handler(run: HookRun) -> str:
    """The row's name: the handler (``plugin:hook:phase``), or the hook
    point that ran none."""
    return run.handler or '%s:%s (none)' % (run.hook, run.phase)


def lifecycle_totals(runs: Sequence[HookRun]) -> Dict[str, Dict[str, int]]:
    """What each plugin's summaries count over the whole run (records
    ``added`` and ``removed``), by plugin: a delete's records go at the
    deallocation before it, and the reader sees them as a whole."""
    totals: Dict[str, Dict[str, int]] = {}
    for run in runs:
        for number, what in _COUNTED.findall(run.summary or ''):
            plugin = _handler(run).split(':')[0]
            counts = totals.setdefault(plugin, {'added': 0, 'removed': 0})
            counts[what] += int(number)
    return totals


def summary(runs: Sequence[HookRun]) -> Rows:
    """Simulate's table: one row per handler (its calls, outcomes, total
    time, and its first summary, shortened), then one per plugin whose
    summaries count records, summed over the lifecycle: bounded by the
    handlers, whatever the count."""
    rows: Dict[str, Dict[str, Any]] = {}
    for run in runs:
        row = rows.setdefault(_handler(run), {
            'outcomes': collections.Counter(), 'total': 0.0,
            'summary': ''})
        row['outcomes'][run.outcome] += 1
        row['total'] += run.seconds
        if run.summary and not row['summary']:
            text = run.summary
            row['summary'] = (text if len(text) <= SUMMARY_WIDTH
                              else text[:SUMMARY_WIDTH - 3] + '...')
    table = [(handler, sum(row['outcomes'].values()),
              ', '.join('%s %d' % kv for kv in sorted(
                  row['outcomes'].items())),
              '%.1f' % (row['total'] * 1000), row['summary'])
             for handler, row in rows.items()]
    table += [('%s: all' % plugin, '', '', '',
               '%(added)d added, %(removed)d removed' % counts)
              for plugin, counts in sorted(lifecycle_totals(runs).items())]
    return (('Handler', 'Calls', 'Outcomes', 'ms', 'First summary'), table)


def enabled_schemas() -> List[Tuple[str, Any]]:
    """The database schemas of the enabled, installed plugins, by plugin
    name."""
    schemas: List[Tuple[str, Any]] = []
    for name in plugin.enabled():
        schemas += [(name, s) for s in plugin.load(name).schemas()]
    return schemas


class DbSync(base.Lister):
    """Migrate every enabled plugin's database to the newest schema.

    Run it after installing or upgrading novahooks, before restarting Nova
    (like nova-manage db sync): the hooks then only check the schema
    version. --listen also migrates the listener's order guard.
    """

    def get_parser(self, prog_name: str) -> Any:
        parser = super().get_parser(prog_name)
        parser.add_argument('--listen', action='store_true',
                            help='also the order guard of novahooks listen')
        return parser

    def take_action(self, parsed_args: Any) -> Rows:
        schemas = enabled_schemas()
        config.state_dir()  # made here, even when no database lives in it
        if parsed_args.listen:
            with base.needs('db sync --listen'):
                from novahooks_core.notify.endpoint import guard_for
                from novahooks_core.notify.options import configured
            schemas.append(('listen', guard_for(configured()).schema))
        rows = []
        for name, schema in schemas:
            before, after = schema.sync()
            rows.append((name, redact.mask_url(str(schema.engine.url)),
                         before or 'none', after))
        return (('Plugin', 'Database', 'Was', 'Now'), rows)


class Metrics(base.Command):
    """Print the enabled plugins' state gauges in Prometheus's text format.

    DNS outbox depth and its oldest change's age, the spools, retained
    volumes, anomalies of the last 24 hours: for cron into node_exporter's
    textfile directory (--output, written atomically).
    """

    READ_ONLY = True

    def get_parser(self, prog_name: str) -> Any:
        parser = super().get_parser(prog_name)
        parser.add_argument('--output', metavar='FILE',
                            help='write FILE (atomically) instead of '
                                 'printing')
        return parser

    def take_action(self, parsed_args: Any) -> int:
        from prometheus_client import write_to_textfile

        from novahooks_core.containment import metrics
        gauges = metrics.plugin_gauges()
        found = metrics.registry(lambda: metrics.gauge_families(gauges))
        if parsed_args.output:
            write_to_textfile(parsed_args.output, found)
        else:
            self.app.stdout.write(metrics.exposition(found))
        return 1 if any(g.name == 'novahooks_plugin_gauges_failed'
                        for g in gauges) else 0


class Prune(base.Lister):
    """Forget what the enabled plugins keep of the past.

    netinfo history older than the retention, and the state of instances
    deleted longer ago (DNS, the ledger; not an instance with a retained
    volume). The retention is --days, else [DEFAULT] retention_days.
    """

    def get_parser(self, prog_name: str) -> Any:
        parser = super().get_parser(prog_name)
        parser.add_argument('--days', type=float, metavar='N',
                            help='retention in days (default: '
                                 'retention_days)')
        return parser

    def take_action(self, parsed_args: Any) -> Rows:
        days = (parsed_args.days if parsed_args.days is not None
                else config.get().retention_days)
        if not days or days <= 0:
            raise base.UsageError('nothing to prune: set [DEFAULT] '
                                  'retention_days or give --days N (> 0)')
        before = timeutils.utcnow() - datetime.timedelta(days=days)
        rows = []
        for name in plugin.enabled():
            for what, count in plugin.load(name).prune(before):
                rows.append((name, what, count))
        return (('Plugin', 'What', 'Removed'), rows)
