"""The ``novahooks`` application frame (cliff).

Subcommands are entry points in the ``novahooks.cli`` namespace: a plugin
adds ``dns_pending = novahooks_dns.cli:Pending`` and gets ``novahooks dns
pending`` without touching core.
"""

import logging
import os
import sys
from typing import Any, List, Optional

from cliff import app, commandmanager
from oslo_config import cfg
from oslo_log import log

from novahooks_core import config, redact
from novahooks_core.cli import base

COMMAND_NAMESPACE = 'novahooks.cli'

#: Loggers kept at WARNING below -vv (Alembic says what it sets up, at
#: INFO, on every migration check).
QUIET_LOGGERS = ['alembic=WARN']


def _version() -> str:
    try:
        import pbr.version
        return str(pbr.version.VersionInfo('novahooks').version_string())
    except Exception:
        return 'unknown'


class NovaHooksApp(app.App):
    """Frame: global options, oslo.log set-up, configuration loading."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            description='Safe, typed plugins for OpenStack Nova hooks.',
            version=_version(),
            command_manager=commandmanager.CommandManager(COMMAND_NAMESPACE),
            deferred_help=True, **kwargs)
        self.conf: Optional[cfg.ConfigOpts] = None

    def build_option_parser(self, description: Any, version: Any,
                            argparse_kwargs: Any = None) -> Any:
        parser = super().build_option_parser(description, version,
                                             argparse_kwargs)
        parser.add_argument(
            '--config-file', metavar='PATH', default=None,
            help='novahooks configuration file (default: $%s, else %s)'
                 % (config.CONFIG_ENV, config.DEFAULT_CONFIG_FILE))
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
        path, _ = config.config_file(self.options.config_file)
        try:
            log_conf(args=[], project='novahooks',
                     default_config_files=[path] if os.path.isfile(path)
                     else [])
        except cfg.Error:  # said when the configuration is loaded
            log_conf(args=[], project='novahooks', default_config_files=[])
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

    def run_subcommand(self, argv: List[str]) -> int:
        """Run the command; one whose module needs an extra that is not
        installed says which, in one line (exit 1)."""
        found = self._missing_extra(argv)
        if found:
            self.stderr.write('novahooks: %s\n' % found)
            return 1
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
        config.reset()
        self.conf = config.load(self.options.config_file)


def main(argv: Optional[List[str]] = None) -> int:
    """Console-script entry point."""
    return int(NovaHooksApp().run(sys.argv[1:] if argv is None else argv))


if __name__ == '__main__':
    sys.exit(main())
