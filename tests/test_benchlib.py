"""The benchmarks' time attribution fails on a name it cannot find instead
of reporting 0 (``tools/bench/benchlib.py``)."""

import cProfile
import importlib
import pathlib
from typing import Any, List

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[1] / 'tools' / 'bench'


def work(n: int) -> List[str]:
    return sorted(str(i) for i in range(n))


def outer() -> Any:
    return work(2000)


def test_time_is_attributed_to_the_functions_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    benchlib = importlib.import_module('benchlib')
    profiler = cProfile.Profile()
    profiler.enable()
    outer()
    profiler.disable()
    found = benchlib.Attribution(profiler)
    assert found.calls(outer) == 1 and found.calls(work) == 1
    assert found.cumulative(outer) >= found.cumulative(work) > 0
    assert found.called_by(benchlib.functions(work),
                           benchlib.functions(outer)) > 0
    assert found.total(found.c_function(r"sorted")) > 0
    assert found.calls(test_time_is_attributed_to_the_functions_named) == 0
    # What it cannot find fails, loudly.
    with pytest.raises(LookupError):
        found.calls(len)
    with pytest.raises(LookupError):
        found.c_function(r'no such function')
    assert found.total(found.c_function(r'no such', required=False)) == 0
