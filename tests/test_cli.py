"""The novahooks command line, through its installed entry points."""

import io
import json
import pathlib
import subprocess
import sys
from typing import Any, List, Tuple

import pytest

from novahooks_core.cli.app import NovaHooksApp
from novahooks_core.testing import SECRETS


def run(*argv: str) -> Tuple[int, Any]:
    out, err = io.StringIO(), io.StringIO()
    code = NovaHooksApp(stdout=out, stderr=err).run(list(argv))
    text = out.getvalue()
    try:
        return code, json.loads(text)
    except ValueError:
        return code, text + err.getvalue()


def test_hooks_lists_the_installed_entry_points() -> None:
    code, rows = run('hooks', '-f', 'json')
    assert code == 0
    nova = {r['Hook']: r for r in rows if r['Namespace'] == 'nova.hooks'
            and r['Distribution'] == 'novahooks'}
    assert set(nova) == {'create_instance', 'build_instance',
                         'delete_instance', 'instance_network_info'}
    assert nova['build_instance']['Class'] == \
        'novahooks_core.dispatch:BuildInstance'
    audit = {r['Hook']: r for r in rows if r['Plugin'] == 'audit'}
    assert set(audit) == set(nova)
    assert audit['build_instance']['Namespace'] == 'novahooks.hooks'
    assert {r['State'] for r in audit.values()} == {'enabled'}
    assert {r['State'] for r in rows if r['Plugin'] == 'dns'} == {
        'disabled'}


def test_hooks_shows_disabled_plugins(tmp_path: pathlib.Path) -> None:
    path = tmp_path / 'off.conf'
    path.write_text('[DEFAULT]\nenabled_plugins =\n')
    code, rows = run('--config-file', str(path), 'hooks', '-f', 'json')
    assert code == 0
    assert {r['State'] for r in rows if r['Plugin'] == 'audit'} == {
        'disabled'}


def test_config_sample_is_complete_and_loadable(tmp_path: pathlib.Path
                                                ) -> None:
    code, text = run('config', 'sample')
    assert code == 0
    for option in ('enabled_plugins', 'state_dir', 'allow_veto',
                   'slow_hook_threshold_ms'):
        assert '#%s = ' % option in text
    sample = tmp_path / 'sample.conf'
    sample.write_text(text.replace('#enabled_plugins = audit',
                                   'enabled_plugins = audit'))
    assert run('--config-file', str(sample), 'check', '-f', 'json')[0] == 0


def test_check_passes_on_defaults_and_fails_loudly() -> None:
    code, rows = run('check', '-f', 'json')
    assert code == 0
    assert all(r['OK'] == 'yes' for r in rows)
    assert {(r['Plugin'], r['Check']) for r in rows} >= {
        ('core', 'configuration'), ('core', 'state_dir writable'),
        ('audit', 'plugin loads'), ('audit', 'hooks visible to stevedore')}


def test_check_reports_unknown_plugins(tmp_path: pathlib.Path) -> None:
    path = tmp_path / 'bad.conf'
    path.write_text('[DEFAULT]\nenabled_plugins = audit,nosuch\n'
                    'state_dir = %s\n' % tmp_path)
    code, rows = run('--config-file', str(path), 'check', '-f', 'json')
    assert code == 1
    failed = [r for r in rows if r['OK'] == 'NO']
    assert [r['Plugin'] for r in failed] == ['nosuch', 'nosuch']


def test_check_rejects_an_invalid_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / 'invalid.conf'
    path.write_text('[DEFAULT]\nallow_veto = perhaps\n')
    result = subprocess.run(
        [sys.executable, '-m', 'novahooks_core.cli.app', '--config-file',
         str(path), 'check'], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "allow_veto" in result.stderr and 'perhaps' in result.stderr


@pytest.mark.parametrize('release', ['21', '14'])
def test_simulate_drives_the_installed_hooks(release: str) -> None:
    code, rows = run('simulate', '--release', release, '--count', '2',
                     '-f', 'json')
    assert code == 0
    audit = [r for r in rows if r['Handler'].startswith('audit:')]
    assert {r['Outcome'] for r in audit} <= {'ok', 'skipped'}
    summaries = [r['Summary'] for r in audit if r['Summary']]
    assert any(s.startswith('build of ') and ': active, addresses 10.0.0.1'
               in s for s in summaries)
    assert sum(s.startswith('deleted ') for s in summaries) == 2
    text = json.dumps(rows)
    for secret in SECRETS.values():
        assert secret not in text


def test_console_script_runs_simulate_as_the_readme_says() -> None:
    result = subprocess.run(
        [sys.executable, '-m', 'novahooks_core.cli.app', 'simulate'],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines: List[str] = result.stdout.splitlines()
    assert any('delete_instance' in line and ' post ' in line
               for line in lines)


def test_check_reports_unknown_sections_options_and_bad_values(
        tmp_path: pathlib.Path) -> None:
    path = tmp_path / 'typos.conf'
    path.write_text(
        '[DEFAULT]\nenabled_plugins = audit\nstate_dir = %s\n'
        'bogus_option = 1\ndebug = true\n'
        '[dnsx]\nzone = x.\n'
        '[dns]\nzonee = y.\nttl = abc\n'
        '[listen]\nrequeue_delay = 2\n'  # a deprecated name: known
        '[oslo_messaging_rabbit]\namqp_durable_queues = true\n' % tmp_path)
    result = subprocess.run(
        [sys.executable, '-m', 'novahooks_core.cli.app', '--config-file',
         str(path), 'check', '-f', 'json'],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    failed = [r['Detail'] for r in json.loads(result.stdout)
              if r['OK'] == 'NO']
    assert failed == [
        '[DEFAULT] bogus_option: unknown option',
        '[dnsx]: unknown section (did you mean dns?)',
        '[dns] zonee: unknown option (did you mean zone?)',
        "[dns] ttl: 'abc' is not a valid value: invalid literal for int() "
        "with base 10: 'abc'"]


def on_all_plugins(tmp_path: pathlib.Path, *argv: str
                   ) -> 'subprocess.CompletedProcess[str]':
    """The console script with dns, storage and netinfo enabled on a
    fresh state."""
    path = tmp_path / 'all.conf'
    path.write_text('[DEFAULT]\nenabled_plugins = dns,storage,netinfo\n'
                    'state_dir = %s\n' % (tmp_path / 'state'))
    return subprocess.run(
        [sys.executable, '-m', 'novahooks_core.cli.app', '--config-file',
         str(path)] + list(argv), capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize('argv, message', [
    (('storage', 'history', 'no-such'), 'no instance no-such in the ledger'),
    (('storage', 'history', '--volume', 'vol-x'),
     'no volume vol-x in the ledger'),
    (('netinfo', 'history', 'no-such'),
     'no network info recorded for no-such'),
    (('netinfo', 'show', 'no-such'), 'no network info recorded for no-such'),
    (('dns', 'records', 'no-such'), 'no DNS state for instance no-such'),
])
def test_not_found_exits_1_with_a_line(argv: Tuple[str, ...], message: str,
                                       tmp_path: pathlib.Path) -> None:
    result = on_all_plugins(tmp_path, *argv)
    assert result.returncode == 1, result
    assert result.stderr.strip().splitlines()[-1] == 'novahooks: ' + message
    assert 'Traceback' not in result.stderr


@pytest.mark.parametrize('argv, header', [
    (('storage', 'retained'), 'Volume'),
    (('dns', 'records'), 'Instance'),
    (('dns', 'pending'), 'Zone'),
    (('netinfo', 'anomalies'), 'Instance'),
])
def test_an_empty_list_prints_its_header(argv: Tuple[str, ...], header: str,
                                         tmp_path: pathlib.Path) -> None:
    result = on_all_plugins(tmp_path, *argv)
    assert result.returncode == 0, result
    assert '| %s' % header in result.stdout, result.stdout


@pytest.mark.parametrize('argv, blocked, extra', [
    (('listen',), 'oslo_messaging', 'listen'),
    (('dns', 'pending'), 'dns', 'dns'),
    (('storage', 'retained'), 'sqlalchemy', 'storage'),
])
def test_a_missing_extra_is_named_in_one_line(
        argv: Tuple[str, ...], blocked: str, extra: str,
        tmp_path: pathlib.Path) -> None:
    """The extra's module made unimportable in the console script's
    process (as when it is not installed: every extra is installed here)."""
    path = tmp_path / 'all.conf'
    path.write_text('[DEFAULT]\nenabled_plugins = dns,storage\n'
                    'state_dir = %s\n' % (tmp_path / 'state'))
    script = ('import sys; sys.modules[%r] = None\n'
              'from novahooks_core.cli import app\n'
              'sys.exit(app.main(sys.argv[1:]))' % blocked)
    result = subprocess.run(
        [sys.executable, '-c', script, '--config-file', str(path)]
        + list(argv), capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result
    assert result.stderr.strip().splitlines()[-1] == (
        "novahooks: novahooks %s needs novahooks[%s] (module %s is not "
        "installed): pip install 'novahooks[%s]'" % (
            ' '.join(argv), extra, blocked, extra))


def test_since_says_what_forms_it_takes(tmp_path: pathlib.Path) -> None:
    path = tmp_path / 'netinfo.conf'
    path.write_text('[DEFAULT]\nenabled_plugins = netinfo\nstate_dir = %s\n'
                    % (tmp_path / 'state'))
    result = subprocess.run(
        [sys.executable, '-m', 'novahooks_core.cli.app', '--config-file',
         str(path), 'netinfo', 'anomalies', '--since', 'yesterday'],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "'yesterday' is neither a number of hours" in result.stderr
    assert 'ISO time' in result.stderr and 'Traceback' not in result.stderr


def test_logging_follows_the_configuration_file(tmp_path: pathlib.Path
                                                ) -> None:
    """log_file and debug from the file; Alembic's INFO quiet at -v; -q
    leaves only errors."""
    log_file = tmp_path / 'novahooks.log'
    path = tmp_path / 'log.conf'
    path.write_text('[DEFAULT]\nenabled_plugins = storage\nstate_dir = %s\n'
                    'log_file = %s\n' % (tmp_path / 'state', log_file))

    def novahooks(*argv: str) -> 'subprocess.CompletedProcess[str]':
        return subprocess.run(
            [sys.executable, '-m', 'novahooks_core.cli.app', '--config-file',
             str(path)] + list(argv), capture_output=True, text=True,
            timeout=120)
    result = novahooks('-v', 'db', 'sync')
    assert result.returncode == 0, result.stderr
    assert 'alembic' not in result.stderr
    assert 'Running upgrade' not in log_file.read_text()
    result = novahooks('-q', 'netinfo', 'history', 'x')  # not enabled: 1
    assert 'WARNING' not in result.stderr
    path.write_text(path.read_text() + 'debug = true\n')
    novahooks('db', 'sync')  # debug: Alembic's lines too
    assert 'alembic.runtime.migration' in log_file.read_text()
