"""What the benchmarks share: per-call timing, and where a profiled run's
time went."""

import cProfile
import inspect
import os
import pstats
import re
import time
from typing import Any, Callable, Dict, List, Tuple


def per_call_us(func: Callable[[], object], rounds: int, n: int) -> float:
    """Microseconds per call of ``func``: the best of ``rounds`` runs of
    ``n`` calls (the least disturbed by the rest of the machine)."""
    best = float('inf')
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(n):
            func()
        best = min(best, (time.perf_counter_ns() - start) / n / 1000.0)
    return best


#: A profiled function: file, first line, name (``'~'`` for C functions).
Key = Tuple[str, int, str]
Matcher = Callable[[Key], bool]


def key(func: Callable[..., Any]) -> Key:
    """The profile key of a Python function (decorators unwrapped)."""
    code = getattr(inspect.unwrap(func), '__code__', None)
    if code is None:
        raise LookupError('%r is not a Python function' % (func,))
    return (code.co_filename, code.co_firstlineno, code.co_name)


def functions(*funcs: Callable[..., Any]) -> Matcher:
    """A matcher of these Python functions."""
    keys = {key(f) for f in funcs}
    return keys.__contains__


class Attribution:
    """A cProfile run's time by function.

    Python functions are named by the function objects themselves, so a
    renamed or moved function fails here (an ``AttributeError`` where it
    is named, a :class:`LookupError` if it is not a Python function)
    instead of silently counting 0. C functions (``'~'``) are matched by
    their text; a matcher that matches nothing raises too.
    """

    def __init__(self, profiler: cProfile.Profile) -> None:
        stats: Any = pstats.Stats(profiler)
        self.raw: Dict[Key, Any] = stats.stats

    def cumulative(self, *funcs: Callable[..., Any]) -> float:
        """Seconds spent in these functions, callees included."""
        return sum(self.raw.get(key(f), (0, 0, 0.0, 0.0))[3] for f in funcs)

    def calls(self, *funcs: Callable[..., Any]) -> int:
        """How many times these functions were called."""
        return sum(int(self.raw.get(key(f), (0, 0))[1]) for f in funcs)

    def c_function(self, pattern: str, required: bool = True) -> Matcher:
        """A matcher of C functions whose text matches ``pattern`` (a
        regular expression); unless not ``required``, one must have run."""
        found = {k for k in self.raw
                 if k[0] == '~' and re.search(pattern, k[2])}
        if required and not found:
            raise LookupError('no C function matching %r ran' % pattern)
        return found.__contains__

    def total(self, matcher: Matcher) -> float:
        """Seconds in every function ``matcher`` accepts (callees
        included)."""
        return sum(v[3] for k, v in self.raw.items() if matcher(k))

    def called_by(self, callee: Matcher, caller: Matcher) -> float:
        """Seconds in ``callee`` when called directly from ``caller``."""
        return sum(edge[3] for k, v in self.raw.items() if callee(k)
                   for who, edge in v[4].items() if caller(who))

    def top(self, count: int, limit: int = 12, per: str = 'call'
            ) -> List[Dict[str, Any]]:
        """The ``limit`` functions with the most own time, per ``count``
        units of work."""
        ranked = sorted(self.raw.items(), key=lambda kv: kv[1][2],
                        reverse=True)
        return [{'function': short(k),
                 'calls_per_%s' % per: round(v[1] / count, 2),
                 'own_us_per_%s' % per: round(v[2] * 1e6 / count, 1),
                 'cumulative_us_per_%s' % per: round(v[3] * 1e6 / count, 1)}
                for k, v in ranked[:limit]]


def short(key: Key) -> str:
    """A profile key as ``package/module.py:line(name)``."""
    if key[0] == '~':
        match = re.match(r"<method '(\w+)' of '([\w.]+)' objects>$", key[2])
        if match:
            return '%s.%s' % (match.group(2).split('.')[-1], match.group(1))
        return re.sub(r'^<built-in method (.*)>$', r'\1', key[2])
    path = key[0].replace(os.sep, '/')
    for marker in ('site-packages/', 'src/', 'tools/'):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return '%s:%d(%s)' % (path, key[1], key[2])
