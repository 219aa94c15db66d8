"""What every novahooks command shares: honest exit codes.

- 0: done, and everything was right;
- 1: done, but something is wrong (a check failed, drift was left, a
  change is still pending): set ``self.failed``;
- 2: the command line or a file it names is wrong: raise
  :class:`UsageError`, whose message is printed as one line.
"""

import json
import sys
from typing import Any, Dict, List, Optional

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
