"""The storage ledger through the installed entry points, on SQLite."""

import json
import multiprocessing
import os
import pathlib
import sqlite3
import threading
from typing import Any, List

import pytest

from novahooks_core import FatalHookException
from novahooks_core.containment import timing
from novahooks_core.models import BlockDevice
from novahooks_core.testing import SECRETS, NovaRunner, factories
from novahooks_storage import service as storage_service
from tests.conftest import WriteConfig, cli
from tests.pg import PostgresServer
from tests.storage.conftest import Ledger


def boot_and_delete(runner: NovaRunner, delete_on_termination: bool,
                    volume_id: str, delete: bool = True) -> Any:
    bdms = factories.bdm_list(factories.volume_bdm(
        volume_id=volume_id, delete_on_termination=delete_on_termination,
        size=20))
    args, kwargs = factories.create_instance_args(block_device_mapping=[
        {'boot_index': 0, 'uuid': volume_id, 'source_type': 'volume',
         'destination_type': 'volume',
         'delete_on_termination': delete_on_termination}])
    inst = factories.instance(state='active', host='c1',
                              project_id='project-a')
    runner.call('create_instance', lambda *a, **k: ([inst], 'r-1'),
                *args, **kwargs)
    build, _ = factories.build_instance_args(inst, bdms=bdms)
    runner.call('build_instance', lambda *a: 'active', *build)
    if delete:
        inst.task_state = 'deleting'
        args, _ = factories.delete_instance_args(inst, bdms=bdms)
        runner.call('delete_instance', lambda *a: None, *args)
    return inst


def test_a_lifecycle_records_requested_built_and_fate(
        ledger: Ledger) -> None:
    runner = NovaRunner()  # the installed entry points, via the dispatcher
    kept = boot_and_delete(runner, False, 'vol-kept')
    gone = boot_and_delete(runner, True, 'vol-gone')
    outcomes = {(r.handler, r.outcome) for r in runner.runs if r.handler}
    assert {o for _, o in outcomes} == {'ok'}, outcomes
    code, rows = cli('storage', 'retained', '-f', 'json')
    assert code == 0
    assert [(r['Volume'], r['Instance'], r['GB']) for r in rows] == [
        ('vol-kept', kept.uuid, 20)]
    code, rows = cli('storage', 'history', '--volume', 'vol-gone', '-f',
                     'json')
    assert [(r['Instance'], r['Fate']) for r in rows] == [
        (gone.uuid, 'deleted_with_instance')]
    code, rows = cli('storage', 'history', kept.uuid, '-f', 'json')
    assert {r['Phase'] for r in rows} == {'requested', 'built', 'at_delete'}
    assert {r['Instance state'] for r in rows} == {'deleted'}
    code, rows = cli('storage', 'summary', '-f', 'json')
    assert rows == [{'Project': 'project-a', 'Instances': 2, 'Volumes': 2,
                     'GB': 40, 'Retained GB': 20}]
    code, text = cli('storage', 'retained', '-f', 'csv')
    assert code == 0 and 'vol-kept' in text
    code, rows = cli('storage', 'retained', '--older-than', '1', '-f',
                     'json')
    assert rows == []


def test_no_secret_reaches_the_ledger(ledger_path: pathlib.Path) -> None:
    boot_and_delete(NovaRunner(), False, 'vol-check')
    data = ledger_path.read_bytes()
    for name in ('-wal', '-shm'):
        extra = pathlib.Path(str(ledger_path) + name)
        if extra.exists():
            data += extra.read_bytes()
    for secret in SECRETS.values():
        assert secret.encode() not in data
    assert b'canary' not in data


def test_repeated_hook_calls_do_not_duplicate_rows(
        ledger: Ledger) -> None:
    runner = NovaRunner()
    inst = boot_and_delete(runner, False, 'vol-1', delete=False)
    bdms = factories.bdm_list(factories.volume_bdm(volume_id='vol-1'))
    args, _ = factories.build_instance_args(inst, bdms=bdms)
    for _ in range(3):
        runner.call('build_instance', lambda *a: 'active', *args)
    counts = dict(ledger.rows(
        'select phase, count(*) from storage_mappings group by phase'))
    volumes = ledger.rows('select count(*) from storage_volumes')[0][0]
    assert counts == {'requested': 1, 'built': 1} and volumes == 1


@pytest.mark.parametrize('mapping,expected', [
    ({'device_name': 'vda', 'volume_id': 'v-legacy', 'volume_size': 5,
      'delete_on_termination': True},
     ('volume', 'volume', 'v-legacy', 5, True)),
    ({'boot_index': 0, 'uuid': 'v-api', 'source_type': 'volume',
      'destination_type': 'volume', 'volume_size': 7},
     ('volume', 'volume', 'v-api', 7, None)),
    ({'boot_index': 0, 'uuid': 'img-1', 'source_type': 'image',
      'destination_type': 'volume', 'volume_size': 9,
      'delete_on_termination': True},
     ('image', 'volume', None, 9, True)),
])
def test_legacy_and_v2_requests(ledger: Ledger, mapping: dict,
                                expected: tuple) -> None:
    inst = factories.instance()
    args, kwargs = factories.create_instance_args(
        block_device_mapping=[mapping], image='')
    NovaRunner().call('create_instance', lambda *a, **k: ([inst], 'r'),
                      *args, **kwargs)
    row = ledger.rows(
        'select source_type, destination_type, volume_id, volume_size,'
        ' delete_on_termination from storage_mappings')[0]
    got = row[:4] + (None if row[4] is None else bool(row[4]),)
    assert got == expected


def _create(runner: NovaRunner, project: str = 'project-a',
            **request: Any) -> None:
    args, kwargs = factories.create_instance_args(**request)
    args = (args[0], factories.context(project)) + args[2:]
    runner.call('create_instance', lambda *a, **k: ([], 'r'), *args,
                **kwargs)


def test_policy_allows_and_vetoes(write_config: WriteConfig,
                                  tmp_path: pathlib.Path) -> None:
    overrides = tmp_path / 'policy.json'
    overrides.write_text(json.dumps(
        {'projects': {'project-a': {'max_volume_gb': 50}}}))
    write_config(enabled_plugins='storage', allow_veto='true', extra=(
        '[storage]\ndatabase_url = sqlite:///%s\nmax_volume_gb = 100\n'
        'max_total_gb = 120\nallowed_source_types = image,volume,blank\n'
        'image_volumes_delete_on_termination = true\n'
        'forbidden_device_types = floppy\npolicy_file = %s\n'
        % (tmp_path / 'l.sqlite', overrides)))
    runner = NovaRunner()

    def bdm(**fields: Any) -> dict:
        base = {'boot_index': 0, 'uuid': 'img-1', 'source_type': 'image',
                'destination_type': 'volume', 'volume_size': 40,
                'delete_on_termination': True}
        base.update(fields)
        return base

    _create(runner, block_device_mapping=[bdm()])   # allowed
    cases = [
        ([bdm(volume_size=60)], 'volume size 60 GB exceeds max_volume_gb '
                                '50'),
        ([bdm(delete_on_termination=False)], 'delete_on_termination=true'),
        ([bdm(source_type='snapshot', uuid='s-1')],
         'source type snapshot is not allowed'),
        ([bdm(device_type='floppy')], 'device type floppy is forbidden'),
        ([bdm(), bdm(boot_index=1), bdm(boot_index=2), bdm(boot_index=3)],
         'volumes total 160 GB'),
    ]
    for mappings, message in cases:
        with pytest.raises(FatalHookException, match=message):
            _create(runner, block_device_mapping=mappings)
    assert timing.snapshot()['storage:create_instance:pre'].vetoes == 5
    # Another project has the global 100 GB limit, not project-a's 50.
    _create(runner, 'project-b', block_device_mapping=[bdm(volume_size=60)])
    with pytest.raises(FatalHookException, match='max_volume_gb 100'):
        _create(runner, 'project-b',
                block_device_mapping=[bdm(volume_size=101)])


def test_a_locked_database_during_delete_loses_nothing(
        ledger_path: pathlib.Path) -> None:
    runner = NovaRunner()
    inst = boot_and_delete(runner, False, 'vol-locked', delete=False)
    storage_service.service().attempts = 1
    blocker = sqlite3.connect(str(ledger_path), timeout=0)
    blocker.execute('BEGIN EXCLUSIVE')
    try:
        bdms = factories.bdm_list(factories.volume_bdm(
            volume_id='vol-locked', delete_on_termination=False))
        inst.task_state = 'deleting'
        args, _ = factories.delete_instance_args(inst, bdms=bdms)
        assert runner.call('delete_instance', lambda *a: 'deleted',
                           *args) == 'deleted'
        assert runner.runs[-1].summary == 'spooled'
        assert storage_service.service().spooled() == 2   # pre and post
    finally:
        blocker.rollback()
        blocker.close()
    code, rows = cli('storage', 'retained', '-f', 'json')
    assert [r['Volume'] for r in rows] == ['vol-locked']  # replayed
    assert storage_service.service().spooled() == 0


def _sync_many(config_file: str, start: int) -> None:
    os.environ['NOVAHOOKS_CONFIG'] = config_file
    from novahooks_core import config
    config.reset()
    runner = NovaRunner()
    for index in range(start, start + 25):
        inst = factories.instance(state='active', host='c%d' % start,
                                  uuid='00000000-0000-0000-0000-%012d'
                                  % index)
        bdms = factories.bdm_list(factories.volume_bdm(
            volume_id='vol-%d' % index))
        args, _ = factories.build_instance_args(inst, bdms=bdms)
        runner.call('build_instance', lambda *a: 'active', *args)


def test_two_processes_writing_at_once_lose_no_rows(
        ledger: Ledger) -> None:
    config_file = os.environ['NOVAHOOKS_CONFIG']
    storage_service.service().ensure_schema()
    context = multiprocessing.get_context('spawn')
    procs = [context.Process(target=_sync_many,
                             args=(config_file, start))
             for start in (0, 100)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    assert ledger.rows('select count(*) from storage_volumes') == [(50,)]
    assert ledger.rows('select count(distinct instance_uuid) from '
                       'storage_mappings') == [(50,)]


def test_an_unreachable_postgresql_during_delete_loses_nothing(
        write_config: WriteConfig, postgres: PostgresServer,
        caplog: pytest.LogCaptureFixture) -> None:
    postgres.reset()
    write_config(enabled_plugins='storage', extra=(
        '[storage]\ndatabase_url = %s\nwrite_attempts = 1\n' % postgres.url))
    runner = NovaRunner()
    inst = boot_and_delete(runner, False, 'vol-pg-down', delete=False)
    bdms = factories.bdm_list(factories.volume_bdm(
        volume_id='vol-pg-down', delete_on_termination=False))
    inst.task_state = 'deleting'
    args, _ = factories.delete_instance_args(inst, bdms=bdms)
    postgres.stop()
    try:
        assert runner.call('delete_instance', lambda *a: 'ok', *args) == 'ok'
        assert [r.summary for r in runner.runs[-2:]] == ['spooled'] * 2
    finally:
        postgres.start()
    code, rows = cli('storage', 'retained', '-f', 'json')
    assert code == 0 and [r['Volume'] for r in rows] == ['vol-pg-down']
    for secret in SECRETS.values():
        assert secret not in caplog.text


def test_threads_writing_at_first_use_all_record(ledger: Ledger) -> None:
    """The listener's workers are threads: their first writes migrate the
    ledger at once, and each must still be recorded (not spooled)."""
    results: List[str] = []

    def write(worker: int) -> None:
        for index in range(10):
            results.append(storage_service.service().write(
                storage_service.op(
                    'built', 'thread-%d-%d' % (worker, index), 'p',
                    [BlockDevice(source_type='volume',
                                 destination_type='volume',
                                 volume_id='vol-%d-%d' % (worker, index))],
                    'h')))
    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert results == ['recorded'] * 40
    assert ledger.rows('select count(*) from storage_volumes') == [(40,)]
