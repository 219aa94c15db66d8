"""``novahooks prune`` through the console script: what it forgets and
what it keeps, on the state a lifecycle left (SQLite), made old."""

import datetime
import json
import pathlib
import sqlite3
import subprocess
import sys
from typing import Dict, Tuple

import pytest

AGO = (datetime.datetime.utcnow() - datetime.timedelta(days=100)).isoformat(
    ' ')


def novahooks(conf: pathlib.Path, *argv: str
              ) -> 'subprocess.CompletedProcess[str]':
    return subprocess.run(
        [sys.executable, '-m', 'novahooks_core.cli.app', '--config-file',
         str(conf)] + list(argv), capture_output=True, text=True, timeout=300)


def sql(path: pathlib.Path, statement: str) -> None:
    with sqlite3.connect(str(path)) as conn:
        conn.execute(statement)


def count(path: pathlib.Path, query: str) -> int:
    with sqlite3.connect(str(path)) as conn:
        return int(conn.execute(query).fetchone()[0])


def removed(result: 'subprocess.CompletedProcess[str]'
            ) -> Dict[Tuple[str, str], int]:
    assert result.returncode == 0, result.stderr
    return {(r['Plugin'], r['What']): r['Removed']
            for r in json.loads(result.stdout)}


def test_prune_forgets_the_old_past_and_keeps_what_is_needed(
        tmp_path: pathlib.Path) -> None:
    state = tmp_path / 'state'
    conf = tmp_path / 'novahooks.conf'
    conf.write_text('[DEFAULT]\nenabled_plugins = dns,storage,netinfo\n'
                    'state_dir = %s\n' % state)
    assert novahooks(conf, 'simulate', '--live', '--count', '2').returncode \
        == 0
    storage, netinfo, dns = (state / 'storage.sqlite',
                             state / 'netinfo.sqlite', state / 'dns.sqlite')
    # Recent: nothing goes.
    assert set(removed(novahooks(conf, 'prune', '--days', '30', '-f',
                                 'json')).values()) == {0}
    # A hundred days later; one instance keeps a retained volume.
    sql(storage, "update storage_instances set deleted_at = '%s'" % AGO)
    sql(netinfo, "update netinfo_events set at = '%s'" % AGO)
    sql(netinfo, "update netinfo_state set updated_at = '%s'" % AGO)
    sql(dns, "update dns_instances set deleted_at = '%s'" % AGO)
    kept = sqlite3.connect(str(storage)).execute(
        'select uuid from storage_instances order by uuid').fetchone()[0]
    sql(storage, "insert into storage_volumes (volume_id, instance_uuid, "
        "fate) values ('vol-kept', '%s', 'retained')" % kept)
    events = count(netinfo, 'select count(*) from netinfo_events')
    found = removed(novahooks(conf, 'prune', '--days', '30', '-f', 'json'))
    assert found[('netinfo', 'events')] == events > 0
    assert found[('netinfo', 'instances')] == 2
    assert found[('storage', 'instances')] == 1
    assert found[('dns', 'instances')] == 2
    assert count(storage, 'select count(*) from storage_instances') == 1
    assert count(storage, "select count(*) from storage_volumes where "
                 "volume_id = 'vol-kept'") == 1
    assert count(netinfo, 'select count(*) from netinfo_events') == 0
    # Again: nothing left to forget.
    assert set(removed(novahooks(conf, 'prune', '--days', '30', '-f',
                                 'json')).values()) == {0}


@pytest.mark.parametrize('config_days, code', [('', 2), ('retention_days = '
                                                         '30\n', 0)])
def test_prune_takes_its_retention_from_the_configuration(
        config_days: str, code: int, tmp_path: pathlib.Path) -> None:
    conf = tmp_path / 'novahooks.conf'
    conf.write_text('[DEFAULT]\nenabled_plugins = netinfo\nstate_dir = %s\n%s'
                    % (tmp_path / 'state', config_days))
    result = novahooks(conf, 'prune')
    assert result.returncode == code, result.stderr
    if code == 2:
        assert 'set [DEFAULT] retention_days or give --days' in result.stderr
