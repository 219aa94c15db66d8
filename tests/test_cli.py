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
