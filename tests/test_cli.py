"""The novahooks command line, through its installed entry points."""

import io
import json
import os
import pathlib
import re
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
        'novahooks_core.hooks.dispatch:BuildInstance'
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
    assert any('audit:delete_instance:post' in line for line in lines)


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
        "%s:10 [dns] ttl: 'abc' is not a number (ttl, an integer \u2265 1)"
        % path]


def on_all_plugins(tmp_path: pathlib.Path, *argv: str
                   ) -> 'subprocess.CompletedProcess[str]':
    """The console script with dns, storage and netinfo enabled on a
    fresh state (made by ``db sync``)."""
    path = tmp_path / 'all.conf'
    path.write_text('[DEFAULT]\nenabled_plugins = dns,storage,netinfo\n'
                    'state_dir = %s\n' % (tmp_path / 'state'))
    command = [sys.executable, '-m', 'novahooks_core.cli.app',
               '--config-file', str(path)]
    subprocess.run(command + ['db', 'sync'], check=True,
                   capture_output=True, timeout=120)
    return subprocess.run(command + list(argv), capture_output=True,
                          text=True, timeout=120)


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


# Issue #27, items 4 and 7: through the installed console script.

NOVAHOOKS = pathlib.Path(sys.executable).with_name('novahooks')
REPO = pathlib.Path(__file__).resolve().parents[1]


def novahooks(*argv: str, **kwargs: Any
              ) -> 'subprocess.CompletedProcess[str]':
    """The installed console script (standard input: nothing, not a
    terminal); ``env`` is added to this process's environment."""
    env = dict(os.environ, **kwargs.pop('env', {}))
    kwargs.setdefault('stdin', subprocess.DEVNULL)
    return subprocess.run([str(NOVAHOOKS)] + list(argv), capture_output=True,
                          text=True, timeout=120, env=env, **kwargs)


def enabled(result: 'subprocess.CompletedProcess[str]') -> List[str]:
    """The plugins ``hooks -f json`` shows enabled."""
    assert result.returncode == 0, result.stderr
    return sorted({r['Plugin'] for r in json.loads(result.stdout)
                   if r['Plugin'] and r['State'] == 'enabled'})


def configured(result: 'subprocess.CompletedProcess[str]') -> str:
    """What ``check -f json`` says it read."""
    return str([r['Detail'] for r in json.loads(result.stdout)
                if r['Check'] == 'configuration'][0])


def test_repeated_config_files_are_layered_in_order(
        tmp_path: pathlib.Path) -> None:
    """A base file plus a host file: both read, the later one winning."""
    base = tmp_path / 'a.conf'
    base.write_text('[DEFAULT]\nenabled_plugins = audit,storage\n'
                    'state_dir = %s\nslow_hook_threshold_ms = 5\n'
                    % (tmp_path / 'state'))
    host = tmp_path / 'b.conf'
    host.write_text('[DEFAULT]\nslow_hook_threshold_ms = 7\n')
    assert enabled(novahooks('--config-file', str(base), '--config-file',
                             str(host), 'hooks', '-f', 'json')) == [
                                 'audit', 'storage']
    host.write_text('[DEFAULT]\nenabled_plugins = audit,netinfo\n')
    assert enabled(novahooks('--config-file', str(base), '--config-file',
                             str(host), 'hooks', '-f', 'json')) == [
                                 'audit', 'netinfo']
    result = novahooks('--config-file', str(base), '--config-file',
                       str(host), 'check', '-f', 'json')
    assert configured(result) == '%s, %s' % (base, host)


def test_config_dir_and_the_default_files_d_directory(
        tmp_path: pathlib.Path) -> None:
    """Without --config-file/--config-dir: the default file
    ($NOVAHOOKS_CONFIG here, as in Nova) and the *.conf of the .d directory
    beside it, in name order; --config-dir replaces that directory, and
    --config-file the file."""
    base = tmp_path / 'novahooks.conf'
    base.write_text('[DEFAULT]\nenabled_plugins = audit\nstate_dir = %s\n'
                    % (tmp_path / 'state'))
    drop_in = tmp_path / 'novahooks.conf.d'
    drop_in.mkdir()
    (drop_in / '20-netinfo.conf').write_text(
        '[DEFAULT]\nenabled_plugins = audit,storage,netinfo\n')
    (drop_in / '10-storage.conf').write_text(
        '[DEFAULT]\nenabled_plugins = audit,storage\n')
    (drop_in / 'notes.txt').write_text('not read: not *.conf\n')
    env = {'NOVAHOOKS_CONFIG': str(base)}
    assert enabled(novahooks('hooks', '-f', 'json', env=env)) == [
        'audit', 'netinfo', 'storage']
    result = novahooks('check', '-f', 'json', env=env)
    assert configured(result) == ', '.join(str(p) for p in (
        base, drop_in / '10-storage.conf', drop_in / '20-netinfo.conf'))
    other = tmp_path / 'other.d'
    other.mkdir()
    (other / 'dns.conf').write_text('[DEFAULT]\nenabled_plugins = dns\n')
    assert enabled(novahooks('--config-dir', str(other), 'hooks', '-f',
                             'json', env=env)) == ['dns']
    # A named file comes after the default directory's files: it wins.
    named = tmp_path / 'named.conf'
    named.write_text('[DEFAULT]\nenabled_plugins = audit\nstate_dir = %s\n'
                     % (tmp_path / 'state'))
    assert enabled(novahooks('--config-file', str(named), 'hooks', '-f',
                             'json', env=env)) == ['audit']
    # Files and directories in the order given, a later one winning.
    assert enabled(novahooks('--config-dir', str(other), '--config-file',
                             str(named), 'hooks', '-f', 'json',
                             env=env)) == ['audit']


@pytest.mark.parametrize('argv, message', [
    (('--config-file', '/nonexistent.conf'),
     'configuration file not found: /nonexistent.conf'),
    (('--config-dir', '/nonexistent.d'),
     'configuration directory not found: /nonexistent.d'),
])
def test_a_missing_config_file_exits_2_in_one_line(
        argv: Tuple[str, ...], message: str) -> None:
    result = novahooks(*argv, 'check')
    assert result.returncode == 2, result
    assert result.stderr == 'novahooks: %s\n' % message
    assert result.stdout == ''


def test_version_is_the_one_pip_shows() -> None:
    from importlib import metadata
    result = novahooks('--version')
    assert result.returncode == 0, result.stderr
    assert (result.stdout + result.stderr).strip() == (
        'novahooks %s' % metadata.version('novahooks'))


def test_bash_completion_offers_only_commands() -> None:
    """Each word offered first is a command or a group of commands (not
    listen_status, from listen and listen status), and a group's words
    follow it."""
    from importlib import metadata
    result = novahooks('complete')
    assert result.returncode == 0, result.stderr
    data = dict(re.findall(r"^\s*(cmds\w*)='([^']*)'$", result.stdout, re.M))
    groups: Any = metadata.entry_points()
    names = [e.name for e in (groups.select(group='novahooks.cli')
                              if hasattr(groups, 'select')
                              else groups.get('novahooks.cli', ()))]
    first = {name.split('_')[0] for name in names} | {'help', 'complete'}
    assert sorted(data['cmds'].split()) == sorted(first)
    assert set(data['cmds_listen'].split()) >= {'failed', 'seed', 'status'}
    assert '--floating-ips' in data['cmds_listen_seed'].split()
    assert 'last-good' in data['cmds_netinfo'].split()


def test_bare_novahooks_prints_the_help_without_a_terminal() -> None:
    result = novahooks()
    assert result.returncode == 2
    assert result.stdout.startswith('usage: novahooks')
    assert 'Commands:' in result.stdout and '(Cmd)' not in result.stdout
    assert '  listen status' in result.stdout
    assert result.stderr == 'novahooks: no command given\n'


def test_bare_novahooks_on_a_terminal_says_how_to_leave() -> None:
    import pty
    import select
    import time
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [str(NOVAHOOKS)], stdin=secondary, stdout=secondary,
        stderr=secondary, env=dict(os.environ, TERM='dumb'))
    os.close(secondary)
    seen = b''

    def read_until(text: bytes, timeout: float = 60.0) -> None:
        nonlocal seen
        end = time.monotonic() + timeout
        while text not in seen and time.monotonic() < end:
            if select.select([primary], [], [], 0.2)[0]:
                try:
                    seen += os.read(primary, 4096)
                except OSError:  # the other end closed
                    return
    try:
        read_until(b'(novahooks) ')
        assert b'"quit" or Ctrl-D leaves' in seen, seen
        os.write(primary, b'quit\n')
        assert process.wait(timeout=60) == 0, seen
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(primary)


def test_install_guide_installs_what_is_published() -> None:
    """No "novahooks" on an index: a release tarball built by
    tools/release.sh, or a git checkout."""
    text = (REPO / 'doc' / 'source' / 'install.rst').read_text()
    installs = re.findall(r'pip install ([^\n#;&|]*)', text)
    assert installs
    for words in installs:
        assert not re.search(r"(^|\s)'?novahooks(\[[\w,]+\])?'?(\s|$)",
                             words), words
    assert 'tools/release.sh' in text
    assert 'git clone' in text


def test_simulate_fits_100_columns_and_sums_the_lifecycle(
        tmp_path: pathlib.Path) -> None:
    """(issue #27, item 7) Its table is at most 100 columns wide without
    cliff folding a handler's name, and a plugin's records are summed
    over the lifecycle: the delete's were removed at the deallocation
    before it ("0 removed" at the delete itself)."""
    path = tmp_path / 'all.conf'
    path.write_text('[DEFAULT]\nenabled_plugins = audit,dns,storage,netinfo\n'
                    'state_dir = %s\n' % (tmp_path / 'state'))
    result = subprocess.run(
        [str(pathlib.Path(sys.executable).parent / 'novahooks'),
         '--config-file', str(path), 'simulate'],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100, result.stdout
    cells = [[cell.strip() for cell in line.strip('|').split('|')]
             for line in lines if line.startswith('| ')]
    by_handler = {row[0]: row for row in cells[1:]}
    assert by_handler['dns:delete_instance:post'][-1] == '0 removed'
    assert by_handler['dns: all'][-1] == '2 added, 2 removed'
    assert 'netinfo:instance_network_info:post' in by_handler
