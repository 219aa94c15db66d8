"""What doc/service ships, checked by the tools that read it: systemd's
own unit verifier, and logrotate rotating the netinfo history while the
plugin keeps writing."""

import pathlib
import re
import shutil
import subprocess
import sys

from novahooks_core.notify import runtime as listener
from novahooks_core.testing import NovaRunner, run_lifecycle
from novahooks_netinfo import service as netinfo_service
from tests.conftest import WriteConfig

SERVICE = pathlib.Path(__file__).resolve().parents[1] / 'doc' / 'service'


def test_the_systemd_unit_verifies_and_outlasts_the_listeners_stop(
        tmp_path: pathlib.Path) -> None:
    text = (SERVICE / 'novahooks-listen.service').read_text()
    novahooks = pathlib.Path(sys.executable).parent / 'novahooks'
    unit = tmp_path / 'novahooks-listen.service'
    unit.write_text(text.replace('/usr/bin/novahooks', str(novahooks)))
    result = subprocess.run(
        [shutil.which('systemd-analyze') or '/usr/bin/systemd-analyze',
         'verify', str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert 'KillSignal=SIGTERM' in text
    assert re.search(r'^ExecStart=\S+ listen$', text, re.M)
    stop = float(re.search(r'^TimeoutStopSec=(\d+)$', text, re.M).group(1))
    # The listener's own bounded stop, then its acknowledgements' grace.
    assert stop > listener.STOP_SECONDS + 2 * listener.ACK_GRACE_SECONDS + 1


def test_logrotate_rotates_the_history_and_the_plugin_writes_on(
        write_config: WriteConfig, tmp_path: pathlib.Path) -> None:
    logs = tmp_path / 'log'
    logs.mkdir()
    history = logs / 'netinfo.jsonl'
    write_config(enabled_plugins='netinfo',
                 extra='[netinfo]\njsonl_path = %s\n' % history)
    netinfo_service.reset()
    runner = NovaRunner()
    run_lifecycle(runner, count=1)
    first = history.read_text().splitlines()
    assert first
    snippet = tmp_path / 'novahooks.logrotate'
    snippet.write_text(
        (SERVICE / 'novahooks.logrotate').read_text()
        .replace('/var/log/novahooks', str(logs))
        .replace('create 0640 nova nova', 'create 0640 root root')
        .replace('su nova nova', 'su root root'))
    result = subprocess.run(
        [shutil.which('logrotate') or '/usr/sbin/logrotate', '-f', '-s',
         str(tmp_path / 'logrotate.state'), str(snippet)],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    rotated = logs / 'netinfo.jsonl.1'
    assert rotated.read_text().splitlines() == first
    run_lifecycle(runner, count=1)  # the handler reopens the moved file
    assert history.read_text().splitlines()
    assert rotated.read_text().splitlines() == first
    netinfo_service.reset()
