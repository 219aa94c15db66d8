"""What every novahooks command shares: honest exit codes.

- 0: done, and everything was right;
- 1: done, but something is wrong (a check failed, drift was left, a
  change is still pending): set ``self.failed``; or what was asked about
  is not known: raise :class:`NotFound`, printed as one line;
- 2: the command line or a file it names is wrong: raise
  :class:`UsageError`, whose message is printed as one line.
"""

import contextlib
import json
import sys
from typing import Any, Dict, Iterator, List, Optional

from cliff import command, lister


class UsageError(Exception):
    """A mistake in the command line or an input file (exit 2)."""


class NotFound(Exception):
    """What the command was asked about is not known (exit 1)."""


#: Modules of the extras, and the extra that brings each (``None``: the
#: plugin's own, named by the command).
EXTRA_MODULES: Dict[str, Optional[str]] = {
    'oslo_messaging': 'listen', 'dns': 'dns', 'sqlalchemy': None,
    'alembic': None}


def missing_extra(command: str, exc: ImportError,
                  extra: Optional[str] = None) -> Optional[str]:
    """What to install for ``command`` (``extra``, else the module's, else
    the one named by the command) when it failed to import a module of an
    extra (``None``: another import error, a bug)."""
    module = (exc.name or '').split('.')[0]
    if module not in EXTRA_MODULES:
        return None
    extra = extra or EXTRA_MODULES[module] or command.split()[0]
    return ("novahooks %s needs novahooks[%s] (module %s is not installed): "
            "pip install 'novahooks[%s]'" % (command, extra, module, extra))


@contextlib.contextmanager
def needs(command: str, extra: Optional[str] = None) -> Iterator[None]:
    """Imports for ``command``: a module of an extra that is missing is
    said in one line naming the extra to install."""
    try:
        yield
    except ImportError as exc:
        found = missing_extra(command, exc, extra)
        if found is None:
            raise
        raise MissingExtra(found) from None


class MissingExtra(Exception):
    """The command needs an extra that is not installed."""


def said(app: Any, run: Any) -> int:
    """``run()``, the operator's mistakes said in one line: a usage error
    (exit 2), something not found or an extra missing (exit 1)."""
    try:
        return int(run() or 0)
    except UsageError as exc:
        app.stderr.write('novahooks: %s\n' % exc)
        return 2
    except (NotFound, MissingExtra) as exc:
        app.stderr.write('novahooks: %s\n' % exc)
        return 1


class Command(command.Command):
    """A command whose operator mistakes are said in one line."""

    def run(self, parsed_args: Any) -> int:
        return said(self.app, lambda: super(Command, self).run(parsed_args))


class Lister(lister.Lister):
    """A listing that exits 1 when ``failed`` or on :class:`NotFound`, and
    2 on a usage error; an empty one prints its header."""

    failed: Any = False

    def get_parser(self, prog_name: str) -> Any:
        parser = super().get_parser(prog_name)
        parser.set_defaults(print_empty=True)
        return parser

    def run(self, parsed_args: Any) -> int:
        code = said(self.app, lambda: super(Lister, self).run(parsed_args))
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
