"""What every novahooks command shares: honest exit codes.

- 0: done, and everything was right;
- 1: done, but something is wrong (a check failed, drift was left, a
  change is still pending): set ``self.failed``;
- 2: the command line or a file it names is wrong: raise
  :class:`UsageError`, whose message is printed as one line.
"""

from typing import Any

from cliff import lister


class UsageError(Exception):
    """A mistake in the command line or an input file (exit 2)."""


class Lister(lister.Lister):
    """A listing that exits 1 when ``failed`` and 2 on a usage error."""

    failed: Any = False

    def run(self, parsed_args: Any) -> int:
        try:
            code = super().run(parsed_args)
        except UsageError as exc:
            self.app.stderr.write('novahooks: %s\n' % exc)
            return 2
        return 1 if self.failed else int(code or 0)
