"""The storage spool (core's :mod:`novahooks_core.state.spool`) when lines are
torn, operations cannot be replayed, or the ledger is locked: bad entries
are quarantined and never block good ones, a bug is not spooled for ever,
and Nova waits no longer than ``[DEFAULT] write_budget_ms``."""

import json
import pathlib
import sqlite3
import time
from typing import Any, Dict, List, Tuple

import pytest
import sqlalchemy as sa

from novahooks_core.containment import timing
from novahooks_core.testing import NovaRunner, factories
from novahooks_storage import service as storage_service
from tests.conftest import WriteConfig, cli
from tests.pg import PostgresServer
from tests.storage.test_storage import boot_and_delete


@pytest.fixture
def ledger_file(write_config: WriteConfig, tmp_path: pathlib.Path
                ) -> pathlib.Path:
    path = tmp_path / 'ledger.sqlite'
    write_config(enabled_plugins='storage', write_budget_ms=300, extra=(
        '[storage]\ndatabase_url = sqlite:///%s\n' % path))
    return path


def spool_path(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / 'state' / 'storage-spool.jsonl'


def quarantine_path(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / 'state' / 'storage-spool.quarantine.jsonl'


def locked_delete(runner: NovaRunner, ledger_file: pathlib.Path,
                  volume: str) -> float:
    """Delete an instance while another writer holds the ledger; returns
    how long the delete hooks held the caller."""
    inst = boot_and_delete(runner, False, volume, delete=False)
    blocker = sqlite3.connect(str(ledger_file), timeout=0)
    blocker.execute('BEGIN EXCLUSIVE')
    try:
        bdms = factories.bdm_list(factories.volume_bdm(
            volume_id=volume, delete_on_termination=False))
        inst.task_state = 'deleting'
        args, _ = factories.delete_instance_args(inst, bdms=bdms)
        started = time.monotonic()
        runner.call('delete_instance', lambda *a: None, *args)
        waited = time.monotonic() - started
        assert [r.summary for r in runner.runs[-2:]] == ['spooled'] * 2
    finally:
        blocker.rollback()
        blocker.close()
    return waited


def test_a_locked_ledger_holds_nova_no_longer_than_the_budget(
        ledger_file: pathlib.Path) -> None:
    runner = NovaRunner()
    waited = locked_delete(runner, ledger_file, 'vol-budget')
    # Two hook calls (pre, post) of 0.3 s each; before the budget, three
    # attempts of SQLite's 5 s busy timeout each held Nova for > 15 s.
    assert waited < 3.0
    assert timing.snapshot()['storage:spooled'].calls == 2
    code, rows = cli('storage', 'retained', '-f', 'json')
    assert [r['Volume'] for r in rows] == ['vol-budget']


def test_a_torn_line_is_quarantined_and_blocks_nothing(
        ledger_file: pathlib.Path, tmp_path: pathlib.Path,
        caplog: pytest.LogCaptureFixture) -> None:
    runner = NovaRunner()
    locked_delete(runner, ledger_file, 'vol-torn')
    spool = spool_path(tmp_path)
    # A crash in the middle of a third append: half a line, no newline.
    with open(str(spool), 'a') as stream:
        stream.write('{"op": "deleted", "uuid": "half')
    # The database is back; the next write replays before itself.
    boot_and_delete(runner, True, 'vol-next')
    assert all(r.summary != 'spooled' for r in runner.runs[-6:])
    assert not spool.exists()
    assert quarantine_path(tmp_path).read_text() == \
        '{"op": "deleted", "uuid": "half\n'
    assert timing.snapshot()['storage:quarantined'].errors == 1
    assert str(quarantine_path(tmp_path)) in caplog.text
    code, rows = cli('storage', 'retained', '-f', 'json')
    assert code == 0 and [r['Volume'] for r in rows] == ['vol-torn']


def test_a_line_appended_after_a_torn_one_is_kept_whole(
        ledger_file: pathlib.Path, tmp_path: pathlib.Path) -> None:
    storage = storage_service.service()
    storage.ensure_schema()
    spool = spool_path(tmp_path)
    spool.parent.mkdir(parents=True, exist_ok=True)
    spool.write_text('{"op": "deleted", "uu')  # torn, no newline
    storage.spool.journal.append(storage_service.op('deleted', 'u-1', 'p'))
    assert spool.read_text().splitlines()[1] == json.dumps(
        storage_service.op('deleted', 'u-1', 'p'), sort_keys=True)
    assert storage.replay_spool() == 0
    assert len(quarantine_path(tmp_path).read_text().splitlines()) == 1


def test_an_operation_that_cannot_be_applied_is_quarantined(
        ledger_file: pathlib.Path, tmp_path: pathlib.Path) -> None:
    storage = storage_service.service()
    storage.ensure_schema()
    spool = spool_path(tmp_path)
    spool.parent.mkdir(parents=True, exist_ok=True)
    good = storage_service.op('built', 'u-good', 'p', host='h')
    spool.write_text('\n'.join(json.dumps(o) for o in (
        {'op': 'no-such-operation', 'uuid': 'u-bad'},
        {'op': 'built', 'uuid': 'u-bad2', 'devices': [{'nonsense': 1}]},
        good)) + '\n')
    assert storage.replay_spool() == 0  # nothing left behind
    assert [json.loads(line)['uuid'] for line in quarantine_path(
        tmp_path).read_text().splitlines()] == ['u-bad', 'u-bad2']
    code, rows = cli('storage', 'summary', '-f', 'json')
    assert code == 0 and rows[0]['Instances'] == 1  # the good one


def test_a_bug_is_raised_and_counted_not_spooled(
        ledger_file: pathlib.Path, tmp_path: pathlib.Path) -> None:
    storage = storage_service.service()
    assert storage.write(storage_service.op('built', 'u-1', 'p')) == \
        'recorded'
    with pytest.raises(ValueError, match='unknown ledger operation'):
        storage.write({'op': 'typo', 'uuid': 'u-2'})
    assert not spool_path(tmp_path).exists()


def test_replay_stops_at_a_transient_failure_and_keeps_the_rest_in_order(
        write_config: WriteConfig, tmp_path: pathlib.Path,
        postgres: PostgresServer) -> None:
    """Four spooled operations; another transaction holds the row of the
    instance the second one updates (a real lock on the shared
    PostgreSQL ledger; the others touch other rows and could go through).
    The replay applies the first, stops at the second (lock timeout) and
    keeps it and every one after it, in order; a new write waits behind
    them; once the lock is gone, the next replay applies them all, in
    order."""
    postgres.reset()
    write_config(enabled_plugins='storage', write_budget_ms=300, extra=(
        '[storage]\ndatabase_url = %s\n' % postgres.url))
    storage = storage_service.service()
    op = storage_service.op
    assert storage.write(op('requested', 'u-b', 'p')) == 'recorded'
    spooled = [op('built', 'u-a', 'p', host='h1'),
               op('built', 'u-b', 'p', host='h2'),
               op('deleted', 'u-a', 'p'),
               op('built', 'u-c', 'p', host='h3')]
    for item in spooled:
        storage.spool.journal.append(item)
    spool = spool_path(tmp_path)

    def kept() -> List[Dict[str, Any]]:
        if not spool.exists():
            return []
        return [json.loads(line) for line in spool.read_text().splitlines()]

    def ledger() -> Dict[str, Tuple[Any, ...]]:
        with postgres.engine().connect() as conn:
            return {row[0]: tuple(row[1:]) for row in conn.execute(sa.text(
                'SELECT uuid, state, host, built_at, deleted_at '
                'FROM storage_instances'))}

    blocker = postgres.engine().connect()
    holding = blocker.begin()
    try:
        assert blocker.execute(sa.text(
            "SELECT uuid FROM storage_instances WHERE uuid = 'u-b' "
            "FOR UPDATE")).scalar() == 'u-b'
        assert storage.spool.replay(0.5) == (1, 3)
        assert kept() == spooled[1:]  # stopped there: the rest, in order
        found = ledger()
        assert found['u-a'][:2] == ('built', 'h1')
        assert found['u-b'][:2] == ('requested', None)
        assert 'u-c' not in found  # not applied ahead of u-b's
        # A new write does not overtake them: it is spooled behind them.
        late = op('deleted', 'u-c', 'p')
        assert storage.write(late) == 'spooled'
        assert kept() == spooled[1:] + [late]
    finally:
        holding.rollback()
        blocker.close()
    assert storage.replay_spool() == 0
    assert not spool.exists()
    assert not quarantine_path(tmp_path).exists()
    found = ledger()
    assert {uuid: row[:2] for uuid, row in found.items()} == {
        'u-a': ('deleted', 'h1'), 'u-b': ('built', 'h2'),
        'u-c': ('deleted', 'h3')}
    # Applied in the order they were spooled: each stamp after the last.
    stamps = [found['u-b'][2], found['u-a'][3], found['u-c'][2],
              found['u-c'][3]]
    assert stamps == sorted(stamps) and len(set(stamps)) == 4, stamps
