"""The storage benchmark compares equal work: the plugin and every raw
variant of ``tools/bench/bench_storage.py`` leave the same ledger rows
(timestamps aside)."""

import importlib
import pathlib
from typing import Any, Dict

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[2] / 'tools' / 'bench'


def test_the_plugin_and_every_raw_variant_write_the_same_rows(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    bench = importlib.import_module('bench_storage')
    items = bench.prepare(6)
    ledgers = bench.Ledgers(str(tmp_path), items, None)
    state = tmp_path / 'state'
    state.mkdir()
    result: Dict[str, Any] = {}
    try:
        rows = {name: bench.run_variant(name, items, ledgers, str(state),
                                        result)[1]
                for name in bench.VARIANTS}
    finally:
        ledgers.cleanup()
    raw = rows[bench.RAW]
    assert bench.counts(raw) == bench.expected_counts(items)
    assert set(rows) == set(bench.VARIANTS) and len(rows) == 4
    for name, found in rows.items():
        assert bench.differences(found, raw) == {}, name
