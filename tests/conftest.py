"""Shared fixtures: every test gets its own configuration and counters."""

import io
import json
import pathlib
from typing import Any, Callable, Iterator, Tuple

import pytest

from novahooks_core import config
from novahooks_core.cli.app import NovaHooksApp
from novahooks_core.containment import timing
from novahooks_core.hooks import dispatch
from novahooks_core.hooks.seen import SEEN

WriteConfig = Callable[..., pathlib.Path]


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path: pathlib.Path,
                    monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test reads /etc or $HOME, or sees another test's counters."""
    path = tmp_path / 'novahooks.conf'
    path.write_text('[DEFAULT]\nstate_dir = %s\n' % (tmp_path / 'state'))
    monkeypatch.setenv(config.CONFIG_ENV, str(path))
    config.reset()
    timing.reset()
    dispatch.reset()
    SEEN.clear()
    yield
    config.reset()
    timing.reset()
    dispatch.reset()
    SEEN.clear()


@pytest.fixture
def write_config(tmp_path: pathlib.Path) -> WriteConfig:
    """Write ``[DEFAULT]`` options (and extra text) and load them."""
    def write(extra: str = '', **defaults: object) -> pathlib.Path:
        defaults.setdefault('state_dir', tmp_path / 'state')
        lines = ['[DEFAULT]'] + ['%s = %s' % (k, v)
                                 for k, v in defaults.items()]
        path = tmp_path / 'novahooks.conf'
        path.write_text('\n'.join(lines) + '\n' + extra)
        config.reset()
        config.load(str(path))
        return path
    return write


def cli(*argv: str) -> Tuple[int, Any]:
    """Run ``novahooks ARGV`` in-process: exit code and stdout (parsed when
    it is JSON)."""
    out = io.StringIO()
    code = NovaHooksApp(stdout=out, stderr=io.StringIO()).run(list(argv))
    try:
        return code, json.loads(out.getvalue())
    except ValueError:
        return code, out.getvalue()
