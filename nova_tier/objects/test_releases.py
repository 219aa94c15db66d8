"""Run ``release/`` once per Nova release, each in a fresh interpreter.

The releases' ``nova`` packages cannot share a process, so each run gets
``--nova-release``; its full report is shown when it fails.
"""

import os
import pathlib
import re
import subprocess
import sys
from typing import Dict, Tuple

from nova_tier_releases import (
    EVERY_RELEASE_TEST_MODULES,
    HOOK_ONLY_RELEASES,
    OBJECT_TEST_MODULES,
    RELEASES,
    ROOT,
    env_dir,
)
import pytest

HERE = pathlib.Path(__file__).resolve().parent



def _counts(report: str) -> Dict[str, int]:
    """``{'passed': 3, 'xfailed': 1, ...}`` from pytest's summary line."""
    summary = report.strip().splitlines()[-1] if report.strip() else ''
    return {word: int(number) for number, word
            in re.findall(r'(\d+) (\w+)', summary)}


def _passed_per_module(report: str) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    for line in report.splitlines():
        match = re.match(r'\S*release/(test_\w+\.py)::\S+ PASSED', line)
        if match:
            counts[match.group(1)] = counts.get(match.group(1), 0) + 1
    return counts


def run_release(release: str) -> Tuple[int, str, str]:
    python = env_dir() / 'venv' / 'bin' / 'python'
    if not python.exists():
        pytest.fail('%s missing: run tools/nova-objects-env.sh' % python)
    env = dict(os.environ, OS_NOVA_DISABLE_EVENTLET_PATCHING='1',
               NOVA_OBJECTS_ENV=str(env_dir()))
    command = [str(python), '-m', 'pytest', '-p', 'no:cacheprovider',
               '-rfEsxX', '-v', '--nova-release', release,
               str(HERE / 'release')]
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900, check=False)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize('release', RELEASES)
def test_release(release: str) -> None:
    code, report, errors = run_release(release)
    print(report)
    print(errors, file=sys.stderr)
    assert code == 0, 'Nova %s: pytest exited %d' % (release, code)
    counts = _counts(report)
    assert counts.get('passed', 0) > 0 and not counts.get('failed')
    assert not counts.get('error') and not counts.get('errors')
    passed = _passed_per_module(report)
    expected = EVERY_RELEASE_TEST_MODULES + (
        () if release in HOOK_ONLY_RELEASES else OBJECT_TEST_MODULES)
    assert {m: passed.get(m, 0) > 0 for m in expected} == {
        m: True for m in expected}
    # Only the import-based signature check is skipped, and only where
    # Nova's modules do not import.
    assert counts.get('skipped', 0) == (
        1 if release in HOOK_ONLY_RELEASES else 0)
