"""The ``novahooks`` application frame (cliff).

Subcommands are entry points in the ``novahooks.cli`` namespace: a plugin
adds ``dns_pending = novahooks_dns.cli:Pending`` and gets ``novahooks dns
pending`` without touching core.
"""

import argparse
import logging
import sys
from typing import Any, List, Optional, Sequence, Union

from cliff import app, commandmanager, complete
from oslo_config import cfg
from oslo_log import log

from novahooks_core import config
from novahooks_core.cli import base
from novahooks_core.containment import redact

COMMAND_NAMESPACE = 'novahooks.cli'

#: Loggers kept at WARNING below -vv (Alembic says what it sets up, at
#: INFO, on every migration check).
QUIET_LOGGERS = ['alembic=WARN']


#: What a bare ``novahooks`` on a terminal says before its prompt.
BANNER = ('novahooks interactive mode: type a command without "novahooks" '
          '("help" lists them); "quit" or Ctrl-D leaves.\n')


def _version() -> str:
    """The version pip shows (pbr's release string: ``0.0.1.dev104``
    between tags)."""
    try:
        import pbr.version
        return str(pbr.version.VersionInfo('novahooks').release_string())
    except Exception:
        return 'unknown'


def _prompt_factory() -> Any:
    """cliff's interactive app, prompting ``(novahooks)`` (cmd2 2 and later
    reset the prompt cliff sets to ``(Cmd)``). Imported when used: cmd2 is
    slow to import."""
    from cliff import interactive

    class Prompt(interactive.InteractiveApp):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.prompt = '(%s) ' % self.parent_app.NAME

    return Prompt


class _ConfigSource(argparse.Action):
    """``--config-file`` and ``--config-dir``, each repeatable, kept in the
    order given as oslo.config arguments (``options.config_args``)."""

    def __call__(self, parser: argparse.ArgumentParser,
                 namespace: argparse.Namespace,
                 values: Union[str, Sequence[Any], None],
                 option_string: Optional[str] = None) -> None:
        found = list(getattr(namespace, self.dest, None) or [])
        setattr(namespace, self.dest, found + [str(self.const), str(values)])


class _CompleteDictionary(complete.CompleteDictionary):
    """cliff's, without the merged names it lists as commands: a command
    that is also a group (``listen``, with ``listen status``) makes it
    offer ``listen_status``, which is no command."""

    def get_commands(self) -> str:
        entries = self._dictionary
        groups = [name + '_' for name, value in entries.items()
                  if isinstance(value, str)]
        return ' '.join(name for name in sorted(entries)
                        if not any(name.startswith(g) for g in groups))


class Complete(complete.CompleteCommand):
    """print bash completion command"""

    def take_action(self, parsed_args: Any) -> int:
        # (--shell takes only the formatters' names)
        shell_factory = self._formatters[parsed_args.shell].plugin
        shell = shell_factory(parsed_args.name or self.app.NAME,
                              self.app.stdout)
        entries = _CompleteDictionary()
        # A group's own command first: cliff then adds its subcommands to
        # it (in any other order it drops them).
        for words in sorted((name.split() for name, _ in
                             self.app.command_manager),
                            key=lambda words: (len(words), words)):
            entries.add_command(words, self.get_actions(words))
        shell.write(entries.get_commands(), entries.get_data())
        return 0


class NovaHooksApp(app.App):
    """Frame: global options, oslo.log set-up, configuration loading."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            description='Safe, typed plugins for OpenStack Nova hooks.',
            version=_version(),
            command_manager=commandmanager.CommandManager(COMMAND_NAMESPACE),
            deferred_help=True, **kwargs)
        self.command_manager.add_command('complete', Complete)
        self.conf: Optional[cfg.ConfigOpts] = None
        #: Why the configuration could not be read (one line), if so.
        self.config_error: Optional[str] = None
        self._interact_code: Optional[int] = None

    def build_option_parser(self, description: Any, version: Any,
                            argparse_kwargs: Any = None) -> Any:
        parser = super().build_option_parser(description, version,
                                             argparse_kwargs)
        parser.add_argument(
            '--config-file', metavar='PATH', dest='config_args',
            action=_ConfigSource, const='--config-file', default=[],
            help='novahooks configuration file; repeat it to layer files, a '
                 'later one\'s values winning (default: $%s, else %s)'
                 % (config.CONFIG_ENV, config.DEFAULT_CONFIG_FILE))
        parser.add_argument(
            '--config-dir', metavar='DIR', dest='config_args',
            action=_ConfigSource, const='--config-dir', default=[],
            help='directory whose *.conf files are read in name order, '
                 'after the files named before it; repeatable (default: '
                 'the default file\'s name with .d appended, %s.d)'
                 % config.DEFAULT_CONFIG_FILE)
        return parser

    def configure_logging(self) -> None:
        """oslo.log as the configuration file says (``log_file``,
        ``log_dir``, ``use_syslog``, ``use_journal``, ``debug``,
        ``log_config_append``, ``default_log_levels``), and always to
        standard error: WARNING by default, ``-q`` ERROR, ``-v`` INFO
        (Alembic's stays quiet), ``-vv`` DEBUG (``debug = true`` too)."""
        log_conf = cfg.ConfigOpts()
        log.register_options(log_conf)
        log.set_defaults(default_log_levels=log.get_default_log_levels()
                         + QUIET_LOGGERS)
        try:
            config.parse(log_conf, self.options.config_args)
        except (cfg.Error, OSError):  # said when the configuration is loaded
            log_conf(args=[], project='novahooks', default_config_files=[],
                     default_config_dirs=[])
        log_conf.set_override('use_stderr', True)
        if self.options.log_file:
            log_conf.set_override('log_file', self.options.log_file)
        log.setup(log_conf, 'novahooks')
        if log_conf.log_config_append:
            return  # the operator's logging file decides the levels
        verbosity = self.options.verbose_level
        level = {0: logging.ERROR, 1: logging.WARNING, 2: logging.INFO}.get(
            verbosity, logging.DEBUG)
        if log_conf.debug and level > logging.DEBUG:
            level = logging.DEBUG
        root = logging.getLogger()
        root.setLevel(level)
        if verbosity >= 3 or log_conf.debug:
            for name in QUIET_LOGGERS:
                logging.getLogger(name.split('=')[0]).setLevel(logging.DEBUG)
        # Whatever is logged (by us, cliff, SQLAlchemy, oslo.messaging)
        # leaves without URL passwords or the configuration's secrets.
        redact.scrub_handlers(root, lambda: redact.configured_secrets(
            config.current()))

    def run(self, argv: List[str]) -> int:
        self._interact_code = None
        code = int(super().run(argv) or 0)
        if self._interact_code is not None:  # (cliff 4 drops it)
            return self._interact_code
        return code

    def interact(self) -> None:
        """A bare ``novahooks``: cliff's prompt on a terminal, with a banner
        saying how to leave; anywhere else the help, exit 2."""
        if self.config_error:
            self._interact_code = self._said_config_error()
        elif not getattr(self.stdin, 'isatty', lambda: False)():
            self.options.deferred_help = True
            try:
                self.print_help_if_requested()  # cliff's --help: exits
            except SystemExit:
                pass
            self.stderr.write('novahooks: no command given\n')
            self._interact_code = 2
        else:
            self.stdout.write(BANNER)
            self.stdout.flush()
            self.interactive_app_factory = _prompt_factory()
            super().interact()
            # Left as the banner says: done (cliff 3 would give cmd2's
            # "stop" flag, True, and cliff 4 always 1).
            self._interact_code = 0

    def _said_config_error(self) -> int:
        self.stderr.write('novahooks: %s\n' % self.config_error)
        return 2

    def run_subcommand(self, argv: List[str]) -> int:
        """Run the command; one whose module needs an extra that is not
        installed says which, in one line (exit 2); none runs when the
        configuration cannot be read (one line, exit 2)."""
        if self.config_error:
            return self._said_config_error()
        found = self._missing_extra(argv)
        if found:
            self.stderr.write('novahooks: %s\n' % found)
            return 2
        return int(super().run_subcommand(argv) or 0)

    def _missing_extra(self, argv: List[str]) -> Optional[str]:
        """The extra a plugin's command needs, when its module cannot be
        imported (cliff then does not list it, or fails to load it)."""
        from importlib import metadata
        groups: Any = metadata.entry_points()
        found = (groups.select(group=COMMAND_NAMESPACE)
                 if hasattr(groups, 'select')
                 else groups.get(COMMAND_NAMESPACE, ()))
        for entry_point in found:
            words = entry_point.name.replace('_', ' ').split()
            if argv[:len(words)] != words:
                continue
            try:
                entry_point.load()
            except ImportError as exc:
                return base.missing_extra(' '.join(words), exc)
        return None

    def initialize_app(self, argv: List[str]) -> None:
        """Read the configuration: what ``--config-file`` and
        ``--config-dir`` name, in their order, else the defaults (see
        :mod:`novahooks_core.config`). A file or directory that cannot be
        read, or a value that is not valid, is said in one line (exit 2)
        instead of running the command (``--debug``: raised)."""
        config.reset()
        self.config_error = None
        try:
            self.conf = config.load(args=self.options.config_args)
        except (cfg.Error, OSError) as exc:
            if self.options.debug:
                raise
            self.config_error = config.explain(exc)


def main(argv: Optional[List[str]] = None) -> int:
    """Console-script entry point."""
    return int(NovaHooksApp().run(sys.argv[1:] if argv is None else argv))


if __name__ == '__main__':
    sys.exit(main())
