"""A real Prometheus (Debian's) for the metrics tests, run by
tools/prometheus-server.sh on a free port of 127.0.0.1; it scrapes every
second the targets a test adds.

    def test_something(prometheus: PrometheusServer) -> None:
        prometheus.scrape('mine', '127.0.0.1:%d' % port)
        prometheus.wait_for('novahooks_listen_messages_total', 3)
"""

import json
import os
import pathlib
import tempfile
import time
from typing import Any, Dict, Iterator, List, Optional
import urllib.parse
import urllib.request

import pytest

from tests.servers import ROOT, ScriptServer, free_tcp_port


class PrometheusServer(ScriptServer):
    """prometheus run by tools/prometheus-server.sh in ``directory``."""

    script = ROOT / 'tools' / 'prometheus-server.sh'
    logs = ('script.log', 'prometheus.log')

    @classmethod
    def temporary(cls) -> 'PrometheusServer':
        directory = tempfile.mkdtemp(prefix='novahooks-prometheus-')
        return cls(pathlib.Path(directory), free_tcp_port(9399))

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.info['url'] + '/-/ready',
                                        timeout=1) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def scrape(self, name: str, target: str, path: str = '/metrics'
               ) -> None:
        """Scrape ``path`` of ``target`` (host:port) from now on, with the
        label ``source=name``."""
        found = self.directory / 'targets' / ('%s.json' % name)
        temporary = found.with_suffix('.tmp')
        temporary.write_text(json.dumps([{
            'targets': [target],
            'labels': {'source': name, '__metrics_path__': path}}]))
        os.replace(temporary, found)

    def forget(self, name: str) -> None:
        """Stop scraping what :meth:`scrape` added as ``name``."""
        found = self.directory / 'targets' / ('%s.json' % name)
        if found.exists():
            found.unlink()

    def query(self, expression: str) -> List[Dict[str, Any]]:
        """The instant vector ``expression`` gives now."""
        url = '%s/api/v1/query?%s' % (self.info['url'], urllib.parse.urlencode(
            {'query': expression}))
        with urllib.request.urlopen(url, timeout=5) as answer:
            found = json.loads(answer.read().decode())
        assert found['status'] == 'success', found
        return list(found['data']['result'])

    def wait_for(self, expression: str, value: float,
                 timeout: float = 60.0) -> List[Dict[str, Any]]:
        """The result of ``expression`` once its one series has ``value``
        (the last answer in the error otherwise)."""
        deadline = time.monotonic() + timeout
        found: Optional[List[Dict[str, Any]]] = None
        while time.monotonic() < deadline:
            found = self.query(expression)
            if len(found) == 1 and float(found[0]['value'][1]) == value:
                return found
            time.sleep(0.5)
        raise AssertionError('%s: %r, not %r, after %.0f s\n%s' % (
            expression, found, value, timeout, self.log_tail()))


@pytest.fixture(scope='session')
def prometheus() -> Iterator[PrometheusServer]:
    server = PrometheusServer.temporary()
    try:
        server.start()
        yield server
    finally:
        server.remove()
