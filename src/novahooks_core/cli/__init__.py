"""The ``novahooks`` command line; subcommands come from ``novahooks.cli``."""
