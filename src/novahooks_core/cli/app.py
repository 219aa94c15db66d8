"""The ``novahooks`` application frame (cliff).

Subcommands are entry points in the ``novahooks.cli`` namespace: a plugin
adds ``dns_pending = novahooks_dns.cli:Pending`` and gets ``novahooks dns
pending`` without touching core.
"""

import logging
import sys
from typing import Any, List, Optional

from cliff import app, commandmanager
from oslo_config import cfg
from oslo_log import log

from novahooks_core import config, redact

COMMAND_NAMESPACE = 'novahooks.cli'


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
        """oslo.log to stderr; -v for INFO, -vv for DEBUG."""
        log_conf = cfg.ConfigOpts()
        log.register_options(log_conf)
        log_conf(args=[], project='novahooks', default_config_files=[])
        log_conf.set_override('use_stderr', True)
        if self.options.log_file:
            log_conf.set_override('log_file', self.options.log_file)
        log.setup(log_conf, 'novahooks')
        level = {0: logging.WARNING, 1: logging.WARNING,
                 2: logging.INFO}.get(self.options.verbose_level,
                                      logging.DEBUG)
        root = logging.getLogger()
        root.setLevel(level)
        # Whatever is logged (by us, cliff, SQLAlchemy, oslo.messaging)
        # leaves without URL passwords or the configuration's secrets.
        redact.scrub_handlers(root, lambda: redact.configured_secrets(
            config.current()))

    def initialize_app(self, argv: List[str]) -> None:
        config.reset()
        self.conf = config.load(self.options.config_file)


def main(argv: Optional[List[str]] = None) -> int:
    """Console-script entry point."""
    return int(NovaHooksApp().run(sys.argv[1:] if argv is None else argv))


if __name__ == '__main__':
    sys.exit(main())
