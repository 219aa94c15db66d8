"""What every novahooks command shares: honest exit codes.

- 0: done, and everything was right;
- 1: done, but something is wrong (a check failed, drift was left, a
  change is still pending): set ``self.failed``; or what was asked about
  is not known: raise :class:`NotFound`, printed as one line;
- 2: the command line or a file it names is wrong: raise
  :class:`UsageError`, whose message is printed as one line; or the
  command needs an extra that is not installed (:class:`MissingExtra`:
  the extra and its pip line, in one line).
"""

import contextlib
import json
import sys
from typing import Any, Dict, Iterator, List, Optional

from cliff import command, lister
from oslo_config import cfg

from novahooks_core import config, extras


class UsageError(Exception):
    """A mistake in the command line or an input file (exit 2)."""


class NotFound(Exception):
    """What the command was asked about is not known (exit 1)."""


def missing_extra(command: str, exc: ImportError,
                  extra: Optional[str] = None) -> Optional[str]:
    """What to install for ``command`` when it failed to import a module
    of an extra (the module's extra, else ``extra``, else the plugin the
    command is of); ``None``: another import error, a bug."""
    found = _lacking(command, exc, extra)
    return None if found is None else str(found)


def _lacking(command: str, exc: ImportError,
             extra: Optional[str]) -> Optional[extras.MissingExtra]:
    return extras.missing('novahooks %s' % command, exc,
                          extra or command.split()[0])


@contextlib.contextmanager
def needs(command: str, extra: Optional[str] = None) -> Iterator[None]:
    """Imports for ``command``: a module of an extra that is missing is
    said in one line naming the extra to install."""
    try:
        yield
    except ImportError as exc:
        found = _lacking(command, exc, extra)
        if found is None:
            raise
        raise found from None


#: The command needs an extra that is not installed (exit 2).
MissingExtra = extras.MissingExtra


def said(app: Any, run: Any, read_only: bool = False) -> int:
    """``run()``, the operator's mistakes said in one line: a usage error,
    an extra missing or a value of the configuration that cannot be read
    (exit 2), something not found (exit 1). ``read_only``: the command
    only reads state; state not made yet (``db sync``) is said, exit 0
    with nothing shown."""
    was = config.read_only()
    config.set_read_only(read_only)
    try:
        return int(run() or 0)
    except config.NotSynced as exc:  # nothing to show yet
        app.stderr.write('novahooks: %s\n' % exc)
        return 0
    except (UsageError, extras.MissingExtra) as exc:
        app.stderr.write('novahooks: %s\n' % exc)
        return 2
    except cfg.Error as exc:  # a value of the files, read when used
        if getattr(app.options, 'debug', False):
            raise
        app.stderr.write('novahooks: %s\n' % config.explain(exc))
        return 2
    except NotFound as exc:
        app.stderr.write('novahooks: %s\n' % exc)
        return 1
    finally:
        config.set_read_only(was)


class ReadsOnly:
    """What a command may write: a read-only one (``READ_ONLY``) creates
    no state directory or database and migrates none."""

    READ_ONLY = False

    def read_only(self, parsed_args: Any) -> bool:
        return self.READ_ONLY


class Command(ReadsOnly, command.Command):
    """A command whose operator mistakes are said in one line."""

    def run(self, parsed_args: Any) -> int:
        return said(self.app, lambda: super(Command, self).run(parsed_args),
                    self.read_only(parsed_args))


class Lister(ReadsOnly, lister.Lister):
    """A listing that exits 1 when ``failed`` or on :class:`NotFound`, and
    2 on a usage error; an empty one prints its header."""

    failed: Any = False

    def get_parser(self, prog_name: str) -> Any:
        parser = super().get_parser(prog_name)
        parser.set_defaults(print_empty=True)
        return parser

    def run(self, parsed_args: Any) -> int:
        code = said(self.app, lambda: super(Lister, self).run(parsed_args),
                    self.read_only(parsed_args))
        return 1 if self.failed and not code else code


def read_json_list(path: str, option: str, expected: str,
                   key: str = 'ID') -> List[Dict[str, Any]]:
    """The items of a JSON list of objects in ``path`` ("-": standard
    input), each with a non-empty string ``key`` (an ``openstack ... list
    -f json`` output); a :class:`UsageError` naming ``option`` and the
    file when it is anything else (``expected``: what it should be)."""
    name = 'standard input' if path == '-' else path
    try:
        if path == '-':
            items = json.load(sys.stdin)
        else:
            with open(path) as stream:
                items = json.load(stream)
    except OSError as exc:
        raise UsageError('%s: cannot read %s: %s'
                         % (option, name, exc.strerror)) from None
    except ValueError as exc:
        raise UsageError('%s: %s is not JSON: %s'
                         % (option, name, exc)) from None
    if not isinstance(items, list):
        raise UsageError('%s: %s holds a JSON %s, expected the output of '
                         '"%s" (a list)' % (option, name,
                                            type(items).__name__, expected))
    for index, item in enumerate(items):
        value: Optional[Any] = (item.get(key, item.get(key.lower()))
                                if isinstance(item, dict) else None)
        if not isinstance(value, str) or not value.strip():
            raise UsageError('%s: %s item %d has no "%s": expected the '
                             'output of "%s"' % (option, name, index, key,
                                                 expected))
    return items
