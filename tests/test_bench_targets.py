"""The benchmarks judge every figure against one target per figure
(``tools/bench/targets.py``) and say ``MISSED`` when it is missed."""

import importlib
import pathlib
import re

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[1] / 'tools' / 'bench'


def test_a_missed_target_is_said_missed_either_way(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    targets = importlib.import_module('targets')
    at_most = targets.Target('ratio', 1.5, 'x')
    at_least = targets.Target('rate', 0.5, 'x', at_most=False)
    assert at_most.judged(1.5) == 'target <= 1.5x: met'
    assert at_most.judged(1.51) == 'target <= 1.5x: MISSED'
    assert at_least.judged(0.5) == 'target >= 0.5x: met'
    assert at_least.judged(0.49) == 'target >= 0.5x: MISSED'


def test_no_benchmark_keeps_a_target_of_its_own() -> None:
    """A target written in a benchmark (``target <= 3x``, ``0.5``) could
    differ from another benchmark's for the same figure."""
    wrong = []
    for path in sorted(BENCH.glob('bench_*.py')):
        text = path.read_text()
        for match in re.finditer(r"target [<>]=? ?%?[\d.]|['\"]missed['\"]|"
                                 r"_TARGET\w* = [\d.]", text):
            wrong.append('%s: %s' % (path.name, match.group(0)))
    assert not wrong
