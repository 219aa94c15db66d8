"""``novahooks check`` with ``[listen]`` configured: the bus answers and
takes the credentials (a real RabbitMQ), through the console script."""

import json
import pathlib
import subprocess
import sys
from typing import Any, Dict, List

import pytest

from tests.rabbit import RabbitServer
from tests.servers import free_tcp_port


def check(tmp_path: pathlib.Path, url: str) -> List[Dict[str, Any]]:
    path = tmp_path / 'listen.conf'
    path.write_text('[DEFAULT]\nenabled_plugins = audit\nstate_dir = %s\n'
                    '[listen]\ntransport_url = %s\n' % (tmp_path, url))
    result = subprocess.run(
        [sys.executable, '-m', 'novahooks_core.cli.app', '--config-file',
         str(path), 'check', '-f', 'json'],
        capture_output=True, text=True, timeout=120)
    rows = json.loads(result.stdout)
    assert result.returncode == (0 if all(r['OK'] == 'yes' for r in rows)
                                 else 1)
    return [r for r in rows if r['Plugin'] == 'listen']


def test_check_logs_in_to_the_listeners_bus(rabbit: RabbitServer,
                                            tmp_path: pathlib.Path) -> None:
    (row,) = check(tmp_path, rabbit.url)
    assert (row['Check'], row['OK']) == ('transport', 'yes')
    assert 'answers' in row['Detail'] and 'guest:guest' not in row['Detail']


@pytest.mark.parametrize('problem', ['password', 'port'])
def test_check_says_why_the_bus_refuses(problem: str, rabbit: RabbitServer,
                                        tmp_path: pathlib.Path) -> None:
    url = ('rabbit://guest:s3cret-wrong@127.0.0.1:%d/' % rabbit.port
           if problem == 'password'
           else 'rabbit://guest:s3cret-wrong@127.0.0.1:%d/' % free_tcp_port())
    (row,) = check(tmp_path, url)
    assert (row['Check'], row['OK']) == ('transport', 'NO')
    assert 's3cret-wrong' not in json.dumps(row)
    assert '127.0.0.1' in row['Detail']
