"""Release artifacts: build with tools/release.sh, install, use.

A temporary clone of this repository's HEAD (tagged 0.0.1 there, for pbr) is
built by the working tree's ``tools/release.sh`` into a temporary directory;
the sdist is installed into one fresh venv (dependencies from PyPI, under
``-c $NOVAHOOKS_CONSTRAINTS`` when that is set) and exercised from there.
"""

import json
import os
import pathlib
import subprocess
import sys
import tarfile
from typing import Dict, Iterator, List, NamedTuple, Optional
import zipfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
RELEASE_SH = REPO / 'tools' / 'release.sh'
VERSION = '0.0.1'
HOOKS = {'create_instance', 'build_instance', 'delete_instance',
         'instance_network_info'}
CONSTRAINTS_ENV = 'NOVAHOOKS_CONSTRAINTS'


class Release(NamedTuple):
    sdist: pathlib.Path
    wheel: pathlib.Path
    venv: pathlib.Path
    work: pathlib.Path
    env: Dict[str, str]


def _run(args: List[str], cwd: pathlib.Path,
         env: Optional[Dict[str, str]] = None,
         timeout: float = 600) -> 'subprocess.CompletedProcess[str]':
    """Run a command; fail the test with its output when it fails."""
    proc = subprocess.run(args, cwd=str(cwd), env=env, timeout=timeout,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail('%s exited %d\n--- stdout\n%s\n--- stderr\n%s'
                    % (' '.join(args), proc.returncode, proc.stdout,
                       proc.stderr), pytrace=False)
    return proc


def _clean_env() -> Dict[str, str]:
    """This process's environment without anything pointing at our code."""
    env = dict(os.environ)
    for name in ('PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV', 'PIP_USER',
                 'PIP_REQUIRE_VIRTUALENV', 'PIP_TARGET', 'PIP_PREFIX'):
        env.pop(name, None)
    env['PIP_DISABLE_PIP_VERSION_CHECK'] = '1'
    return env


@pytest.fixture(scope='module')
def release(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Release]:
    """Clone, tag, build, and install the sdist into a fresh venv, once."""
    base = tmp_path_factory.mktemp('release')
    env = _clean_env()

    head = _run(['git', 'rev-parse', 'HEAD'], REPO, env).stdout.strip()
    clone = base / 'repo'
    _run(['git', 'clone', '--quiet', '--no-tags', '--no-checkout',
          str(REPO), str(clone)], base, env)
    _run(['git', 'checkout', '--quiet', head], clone, env)
    _run(['git', 'tag', VERSION], clone, env)  # lightweight, clone only

    outdir = base / 'dist'
    built = _run(['bash', str(RELEASE_SH), '--allow-untagged', str(outdir)],
                 clone, dict(env, PYTHON=sys.executable))
    paths = [pathlib.Path(line) for line in built.stdout.splitlines()]
    sdists = [p for p in paths if p.name.endswith('.tar.gz')]
    wheels = [p for p in paths if p.suffix == '.whl']
    assert len(paths) == 2 and len(sdists) == 1 and len(wheels) == 1, paths
    for path in paths:
        assert path.is_file() and path.parent == outdir.resolve(), path
    assert sdists[0].name == 'novahooks-%s.tar.gz' % VERSION

    venv = base / 'venv'
    _run([sys.executable, '-m', 'venv', str(venv)], base, env)
    install = [str(venv / 'bin' / 'python'), '-m', 'pip', 'install',
               '--quiet', '--use-pep517']
    constraints = os.environ.get(CONSTRAINTS_ENV)
    if constraints:
        install += ['-c', constraints]
    _run(install + [str(sdists[0])], base, env, timeout=900)

    work = base / 'work'  # cwd and HOME of every command run from the venv
    work.mkdir()
    conf = work / 'novahooks.conf'
    conf.write_text('[DEFAULT]\nstate_dir = %s\n' % (work / 'state'))
    run_env = dict(env, HOME=str(work), NOVAHOOKS_CONFIG=str(conf))
    yield Release(sdists[0], wheels[0], venv, work, run_env)


def _venv_run(release: Release, *args: str) -> str:
    return _run([str(release.venv / 'bin' / args[0])] + list(args[1:]),
                release.work, release.env).stdout


def _wheel_text(wheel_path: pathlib.Path, name: str) -> str:
    """A file of the wheel's .dist-info directory."""
    with zipfile.ZipFile(str(wheel_path)) as wheel:
        dist_info = '%s.dist-info/%s' % (
            wheel_path.name.split('-py')[0], name)
        return wheel.read(dist_info).decode('utf-8')


def test_sdist_contains_src_layout(release: Release) -> None:
    with tarfile.open(str(release.sdist)) as tar:
        names = set(tar.getnames())
    top = 'novahooks-%s' % VERSION
    assert top + '/src/novahooks_core/hook.py' in names
    assert top + '/setup.cfg' in names
    assert top + '/requirements.txt' in names


def test_wheel_has_packages_at_top_level(release: Release) -> None:
    with zipfile.ZipFile(str(release.wheel)) as wheel:
        names = set(wheel.namelist())
    assert 'novahooks_core/hook.py' in names
    # Users' mypy reads the types of every package (PEP 561).
    for package in ('novahooks_core', 'novahooks_dns', 'novahooks_storage',
                    'novahooks_netinfo'):
        assert package + '/py.typed' in names
    assert not any(name.startswith('src/') for name in names)
    entry_points = _wheel_text(release.wheel, 'entry_points.txt')
    assert '[nova.hooks]' in entry_points


def test_version(release: Release) -> None:
    proc = _run([str(release.venv / 'bin' / 'novahooks'), '--version'],
                release.work, release.env)
    assert 'novahooks %s' % VERSION in proc.stdout + proc.stderr


def test_hooks_lists_entry_points(release: Release) -> None:
    rows = json.loads(_venv_run(release, 'novahooks', 'hooks', '-f', 'json'))
    ours = [row for row in rows if row['Distribution'] == 'novahooks'
            and row['Namespace'] == 'nova.hooks']
    assert {row['Hook'] for row in ours} == HOOKS
    assert len(ours) == len(HOOKS)
    for row in ours:
        assert row['Class'].startswith('novahooks_core.hooks.dispatch:'), row
    audit = [row for row in rows if row['Plugin'] == 'audit']
    assert {row['Hook'] for row in audit} == HOOKS
    assert {row['State'] for row in audit} == {'enabled'}
    assert not [row for row in rows if row['State'].startswith('load')]


def test_simulate(release: Release) -> None:
    rows = json.loads(_venv_run(release, 'novahooks', 'simulate',
                                '-f', 'json'))
    assert rows
    assert {row['Hook'] for row in rows} >= HOOKS
    bad = [row for row in rows if row['Outcome'] not in ('ok', 'skipped')]
    assert not bad, bad


def test_core_commands_work_without_plugin_extras(release: Release) -> None:
    """The sdist is installed without extras: plugins whose dependencies
    are missing must not break the core commands."""
    sample = _venv_run(release, 'novahooks', 'config', 'sample')
    assert 'enabled_plugins' in sample
    check = _venv_run(release, 'novahooks', 'check', '-f', 'json')
    assert {row['OK'] for row in json.loads(check)} == {'yes'}


def test_a_missing_extra_is_one_pip_line(release: Release) -> None:
    """Without the extras, a plugin's command says what to install, once,
    exit 2 (issue #27: it printed 13 tracebacks)."""
    proc = subprocess.run(
        [str(release.venv / 'bin' / 'novahooks'), 'simulate', '--plugins',
         'audit,dns,storage'], cwd=str(release.work), env=release.env,
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc
    assert 'Traceback' not in proc.stderr
    assert proc.stderr.count("pip install 'novahooks[dns,storage]'") == 1, \
        proc.stderr


STEVEDORE_PROBE = '''
import json, sys
from stevedore import extension
import novahooks_core
from novahooks_core.hooks.dispatch import Dispatcher

def fail(manager, entry_point, exc):
    raise exc

manager = extension.ExtensionManager(
    'nova.hooks', invoke_on_load=False, on_load_failure_callback=fail)
json.dump({
    'core': novahooks_core.__file__,
    'hooks': {ext.name: [ext.entry_point_target,
                         issubclass(ext.plugin, Dispatcher)]
              for ext in manager.extensions},
}, sys.stdout)
'''


def test_stevedore_loads_nova_hooks(release: Release) -> None:
    found = json.loads(_venv_run(release, 'python', '-c', STEVEDORE_PROBE))
    # The installed copy, not this checkout's src/.
    core = pathlib.Path(found['core']).resolve()
    assert release.venv.resolve() in core.parents, core
    hooks = found['hooks']
    assert set(hooks) >= HOOKS
    for name in HOOKS:
        target, is_hook = hooks[name]
        assert target.startswith('novahooks_core.hooks.dispatch:'), target
        assert is_hook, name


def test_installed_requirements_consistent(release: Release) -> None:
    _venv_run(release, 'python', '-m', 'pip', 'check')
