"""What an operator sees when an extra is missing, a plugin cannot be set
up or a value of the configuration cannot be read (issue #27, items 1, 2
and 5): the extra and its pip line once, exit 2 for a command; one ERROR
line per plugin, not one per call, inside Nova and the listener; the
calls it missed counted in simulate's table; a bad value as ``file:line
[section] option: why (option, what it must be)``, once; no traceback
unless debug logging is on. (The listener's start:
``tests/listen/test_start.py``.)

Through the installed console script; where an extra must be missing,
its module is made unimportable in the console script's main
(``sys.modules[name] = None``, as when it is not installed: every extra
is installed here), and ``tests/test_release.py`` checks the same on a
real install without extras."""

import json
import logging
import pathlib
import re
import subprocess
import sys
from typing import List, Sequence, Tuple

import pytest

from novahooks_core.containment import isolation
from novahooks_core.models import Outcome

#: The installed console script.
NOVAHOOKS = str(pathlib.Path(sys.executable).parent / 'novahooks')

#: Runs the console script's main with modules blocked (argv[1]: their
#: names, comma-separated).
BLOCKED_MAIN = '''
import sys
for name in sys.argv.pop(1).split(','):
    sys.modules[name] = None
from novahooks_core.cli import app
sys.exit(app.main(sys.argv[1:]))
'''


def plain(text: str) -> str:
    """``text`` without terminal colours (older oslo.log colours its
    stderr lines)."""
    return re.sub(r'\x1b\[[0-9;]*m', '', text)


def novahooks(blocked: Sequence[str], conf: pathlib.Path, *argv: str
              ) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    command = ([sys.executable, '-c', BLOCKED_MAIN, ','.join(blocked)]
               if blocked else [NOVAHOOKS])
    result = subprocess.run(
        command + ['--config-file', str(conf)] + list(argv),
        capture_output=True, text=True, timeout=180)
    result.stderr = plain(result.stderr)
    return result


#: No "took N ms" WARNING on a loaded machine: the tests count lines.
QUIET = 'slow_hook_threshold_ms = 1000000\n'


def write_conf(tmp_path: pathlib.Path, text: str) -> pathlib.Path:
    path = tmp_path / 'novahooks.conf'
    path.write_text('[DEFAULT]\nstate_dir = %s\n%s%s' % (
        tmp_path / 'state', QUIET, text))
    return path


def pip_line(extra: str) -> str:
    return "pip install 'novahooks[%s]'" % extra


@pytest.mark.parametrize('argv, blocked, said', [
    (('listen',), 'oslo_messaging',
     "novahooks listen needs novahooks[listen] (module oslo_messaging is "
     "not installed): " + pip_line('listen')),
    (('dns', 'pending'), 'dns',
     "novahooks dns pending needs novahooks[dns] (module dns is not "
     "installed): " + pip_line('dns')),
    (('storage', 'retained'), 'sqlalchemy',
     "novahooks storage retained needs novahooks[storage] (module "
     "sqlalchemy is not installed): " + pip_line('storage')),
    (('db', 'sync'), 'sqlalchemy',
     "plugin dns needs novahooks[dns] (module sqlalchemy is not "
     "installed): " + pip_line('dns')),
    (('simulate', '--plugins', 'audit,dns,storage'), 'sqlalchemy',
     "plugin dns and plugin storage need novahooks[dns,storage] (module "
     "sqlalchemy is not installed): " + pip_line('dns,storage')),
])
def test_a_command_needing_a_missing_extra_says_it_once_and_exits_2(
        argv: Tuple[str, ...], blocked: str, said: str,
        tmp_path: pathlib.Path) -> None:
    conf = write_conf(tmp_path, 'enabled_plugins = audit,dns,storage\n')
    result = novahooks([blocked], conf, *argv)
    assert result.returncode == 2, result
    assert 'Traceback' not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines()
             if 'pip install' in line]
    assert lines == ['novahooks: ' + said], result.stderr
    # Nothing else but simulate's one note on its throw-away state dir.
    assert len(result.stderr.splitlines()) <= 2, result.stderr
    assert not (tmp_path / 'state').exists()


def test_check_names_each_missing_extra_in_one_row(tmp_path: pathlib.Path
                                                   ) -> None:
    """Not one "unknown section" row per section of a plugin whose extra
    is missing, nor an abort on [listen]: a row each, with the pip line."""
    conf = write_conf(tmp_path, (
        'enabled_plugins = audit,dns,storage\n[dns]\nbackend = hosts\n'
        '[storage]\ndatabase_url =\n'
        '[listen]\ntransport_url = rabbit://guest:guest@127.0.0.1:1/\n'))
    (tmp_path / 'state').mkdir()
    result = novahooks(['sqlalchemy', 'oslo_messaging'], conf, 'check',
                       '-f', 'json')
    assert result.returncode == 1, result
    rows = json.loads(result.stdout)
    failed = {(row['Plugin'], row['Check']): row['Detail']
              for row in rows if row['OK'] == 'NO'}
    assert failed == {
        ('dns', 'plugin loads'):
            "plugin dns needs novahooks[dns] (module sqlalchemy is not "
            "installed): " + pip_line('dns'),
        ('storage', 'plugin loads'):
            "plugin storage needs novahooks[storage] (module sqlalchemy is "
            "not installed): " + pip_line('storage'),
        ('listen', 'transport'):
            "novahooks check of [listen] needs novahooks[listen] (module "
            "oslo_messaging is not installed): " + pip_line('listen'),
    }, rows
    assert 'Traceback' not in result.stderr and not result.stderr.strip()


#: Nova's hook runner (novahooks_core.runner: Nova's semantics) through
#: three lifecycles, modules blocked (argv[1]); prints each run's handler
#: and outcome as JSON.
BLOCKED_LIFECYCLES = '''
import json, sys
for name in sys.argv.pop(1).split(','):
    sys.modules[name] = None
from novahooks_core.lifecycle import run_lifecycle
from novahooks_core.runner import NovaRunner
runner = NovaRunner()
run_lifecycle(runner, release=21, count=3)
json.dump([[run.handler, str(run.outcome)] for run in runner.runs],
          sys.stdout)
'''


def _lifecycles(blocked: List[str], conf: pathlib.Path
                ) -> Tuple[List[List[str]], str]:
    result = subprocess.run(
        [sys.executable, '-c', BLOCKED_LIFECYCLES, ','.join(blocked) or 'x'],
        capture_output=True, text=True, timeout=180,
        env=dict(__import__('os').environ, NOVAHOOKS_CONFIG=str(conf)))
    assert result.returncode == 0, result
    return json.loads(result.stdout), plain(result.stderr)


def test_inside_nova_a_missing_extra_is_one_error_and_counted_calls(
        tmp_path: pathlib.Path) -> None:
    conf = write_conf(tmp_path, 'enabled_plugins = audit,dns,storage\n')
    runs, stderr = _lifecycles(['sqlalchemy'], conf)
    errors = stderr.splitlines()  # (Python's last-resort handler: ERROR)
    assert len(errors) == 2, stderr  # dns and storage, once each
    for name in ('dns', 'storage'):
        assert sum("plugin %s needs novahooks[%s] (module sqlalchemy is "
                   "not installed): %s" % (name, name, pip_line(name))
                   in line for line in errors) == 1, errors
    missed = [handler for handler, outcome in runs
              if outcome == Outcome.ERROR.value]
    assert {h.split(':')[0] for h in missed} == {'dns', 'storage'}
    assert len(missed) > 2 * 3  # every call of three lifecycles: counted
    assert 'Traceback' not in stderr
    assert all(outcome == Outcome.OK.value for handler, outcome in runs
               if handler and handler.startswith('audit:'))


def _simulate_live(tmp_path: pathlib.Path, setting: str
                   ) -> Tuple[subprocess.CompletedProcess,  # type: ignore[type-arg]
                              List[dict]]:  # type: ignore[type-arg]
    conf = tmp_path / 'live.conf'
    conf.write_text('[DEFAULT]\nenabled_plugins = audit,dns,storage,netinfo'
                    '\n' + QUIET + setting)
    result = novahooks([], conf, 'simulate', '--live', '-f', 'json')
    assert 'Traceback' not in result.stderr, result.stderr
    return result, json.loads(result.stdout)


def test_a_plugin_that_cannot_be_set_up_is_said_once(
        tmp_path: pathlib.Path) -> None:
    """simulate --live with a state dir that cannot be made: one line per
    plugin, the calls it missed counted in the table, no traceback."""
    (tmp_path / 'a-file').write_text('')
    result, rows = _simulate_live(
        tmp_path, 'state_dir = %s/a-file/state\n' % tmp_path)
    assert result.returncode == 1, result
    said = re.findall(r'novahooks: (\w+):\S+ failed: NotADirectoryError',
                      result.stderr)
    assert sorted(said) == ['dns', 'netinfo', 'storage'], result.stderr
    missed = [row for row in rows if row['Outcome'] == 'error']
    assert {row['Handler'].split(':')[0] for row in missed} == set(said)
    assert len(missed) > len(said)
    # (and dns's one line that its queue could not be settled)
    assert len(result.stderr.splitlines()) == len(said) + 1, result.stderr


def test_a_database_that_cannot_be_reached_is_said_once(
        tmp_path: pathlib.Path) -> None:
    """The ledger's PostgreSQL unreachable: said once, without its
    password; the changes are spooled, not missed."""
    result, rows = _simulate_live(
        tmp_path, 'state_dir = %s/state\n[storage]\ndatabase_url = '
        'postgresql+psycopg2://nova:s3cret-pw@127.0.0.1:1/nh\n' % tmp_path)
    assert result.returncode == 1, result
    assert 's3cret-pw' not in result.stderr + result.stdout
    said = re.findall(r'novahooks: (\w+):\S+ failed: OperationalError',
                      result.stderr)
    assert said == ['storage'], result.stderr
    # and once that its changes are kept for replay
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and 'storage-spool.jsonl for replay' in lines[1], \
        result.stderr
    storage = [row for row in rows
               if (row['Handler'] or '').startswith('storage:')]
    assert storage and all(row['Outcome'] == 'ok' for row in storage)


def test_the_same_failure_is_said_once_until_the_plugin_works_again(
        caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise OSError(13, 'Permission denied', '/var/lib/novahooks/x')

    caplog.set_level(logging.DEBUG, logger=isolation.LOG.logger.name)
    outcomes = [isolation.guarded('p:create_instance:pre', broken)[0]
                for _ in range(5)]
    assert outcomes == [Outcome.ERROR] * 5
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert 'Permission denied' in errors[0].getMessage()
    # Each repeat, and the traceback, at DEBUG only.
    debug = [r.getMessage() for r in caplog.records
             if r.levelno == logging.DEBUG]
    assert sum('as before' in m for m in debug) == 4
    assert any('Traceback' in m for m in debug)

    caplog.clear()
    assert isolation.guarded('p:delete_instance:pre', lambda: None)[0] \
        is Outcome.OK
    assert [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING] == [
        "novahooks: plugin p works again (5 call(s) failed with: "
        "PermissionError: [Errno 13] Permission denied: "
        "'/var/lib/novahooks/x')"]
    # Failing again, it is said again.
    caplog.clear()
    isolation.guarded('p:create_instance:pre', broken)
    assert [r.levelno for r in caplog.records
            if r.levelno >= logging.WARNING] == [logging.ERROR]


def test_another_failure_of_the_same_plugin_is_said(
        caplog: pytest.LogCaptureFixture) -> None:
    def fails(why: str) -> None:
        raise RuntimeError(why)

    for why in ('first', 'first', 'second', 'second'):
        isolation.guarded('p:build_instance:post', fails, why)
    said = [r.getMessage() for r in caplog.records
            if r.levelno == logging.ERROR]
    assert len(said) == 2
    assert 'RuntimeError: first' in said[0]
    assert 'RuntimeError: second' in said[1]


def test_a_bad_value_is_said_once_where_it_is_and_what_it_must_be(
        tmp_path: pathlib.Path) -> None:
    conf = write_conf(tmp_path, 'enabled_plugins = audit,dns\n[dns]\n'
                      'backend = hostsfile\nsend_budget_ms = abc\n'
                      'ttl = -5\n')
    said = ["%s:7 [dns] send_budget_ms: 'abc' is not a number "
            "(send_budget_ms, a float \u2265 0.0)" % conf,
            "%s:8 [dns] ttl: '-5' is out of range (ttl, an integer "
            "\u2265 1)" % conf]
    (tmp_path / 'state').mkdir()
    check = novahooks([], conf, 'check', '-f', 'json')
    assert check.returncode == 1
    details = [row['Detail'] for row in json.loads(check.stdout)
               if row['OK'] == 'NO']
    # (and dns's own checks not run, for that reason)
    assert details == said + [
        'not checked: a value of [dns] cannot be read (above)'], details
    assert 'LocationInfo' not in check.stdout + check.stderr
    pending = novahooks([], conf, 'dns', 'pending')
    assert pending.returncode == 2, pending
    # (the first value it reads, said once)
    assert len(pending.stderr.splitlines()) == 1, pending.stderr
    assert pending.stderr.strip() in ['novahooks: ' + s for s in said]


#: The read-only commands (issue #27, item 6), each with its exit code on
#: state not made yet.
READ_ONLY = [
    (('check',), 1), (('dns', 'pending'), 0), (('dns', 'records'), 0),
    (('storage', 'retained'), 0), (('storage', 'summary'), 0),
    (('storage', 'history', UUID_ARG := '0c1f0e3c-55f1-4f4f-9c1b-'
      '000000000001'), 0),
    (('netinfo', 'show', UUID_ARG), 0), (('netinfo', 'history', UUID_ARG), 0),
    (('netinfo', 'anomalies'), 0), (('listen', 'failed'), 0),
]


def _all_plugins(tmp_path: pathlib.Path) -> pathlib.Path:
    return write_conf(tmp_path, 'enabled_plugins = audit,dns,storage,'
                      'netinfo\n[dns]\nbackend = hostsfile\nzone = '
                      'example.org.\n')


@pytest.mark.parametrize('argv, code', READ_ONLY)
def test_a_read_only_command_creates_nothing(
        argv: Tuple[str, ...], code: int, tmp_path: pathlib.Path) -> None:
    conf = _all_plugins(tmp_path)
    result = novahooks([], conf, *argv)
    assert result.returncode == code, result
    assert not (tmp_path / 'state').exists(), argv
    if argv[0] != 'listen':  # (an empty list: its journal is no database)
        assert 'novahooks db sync' in result.stdout + result.stderr, result
    assert 'Traceback' not in result.stderr


@pytest.mark.parametrize('argv, code', READ_ONLY)
def test_a_read_only_command_migrates_nothing(
        argv: Tuple[str, ...], code: int, tmp_path: pathlib.Path) -> None:
    """Databases that exist, not synced (empty files): left as they are,
    and said so."""
    conf = _all_plugins(tmp_path)
    state = tmp_path / 'state'
    state.mkdir()
    for name in ('dns', 'storage', 'netinfo'):
        (state / ('%s.sqlite' % name)).write_bytes(b'')
    result = novahooks([], conf, *argv)
    assert result.returncode == code, result
    assert {p.name: p.stat().st_size for p in state.iterdir()} == {
        'dns.sqlite': 0, 'storage.sqlite': 0, 'netinfo.sqlite': 0}, argv
    if argv[0] != 'listen':  # (its journal is no database)
        assert 'is at schema none' in result.stdout + result.stderr
        assert 'novahooks db sync' in result.stdout + result.stderr


def test_after_db_sync_the_read_only_commands_answer(
        tmp_path: pathlib.Path) -> None:
    conf = _all_plugins(tmp_path)
    assert novahooks([], conf, 'db', 'sync').returncode == 0
    for argv, _ in READ_ONLY:
        if argv[0] == 'check':
            continue  # (its DNS check wants the hosts file: not made yet)
        result = novahooks([], conf, *argv)
        assert 'db sync' not in result.stderr, (argv, result.stderr)
        assert result.returncode in (0, 1), (argv, result)


def test_inside_nova_an_enabled_plugin_not_installed_is_one_error(
        tmp_path: pathlib.Path) -> None:
    conf = write_conf(tmp_path, 'enabled_plugins = audit,dnss\n')
    runs, stderr = _lifecycles([], conf)
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(
        'novahooks: enabled_plugins names dnss, but no installed plugin '
        'has that name: ignored (installed: audit, dns, netinfo, '), stderr
    assert all(outcome == Outcome.OK.value for handler, outcome in runs
               if handler)
