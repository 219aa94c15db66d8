"""Start, drive and stop a real Neutron API server (tools/neutron_server.py).

Standard library only (no pytest), so it runs in any test venv::

    server = NeutronServer(directory, transport_url)
    server.start()
    try:
        ids = server.topology(project_id)
        port = server.port(project_id, ids['internal_network_id'], uuid)
        fip = server.floating_ip(project_id, ids['external_network_id'])
        server.associate(fip['id'], port['id'])
    finally:
        server.stop()

Neutron itself runs in the Python 3.12 venv tools/neutron-env.sh builds
(.venvs/neutron); it authenticates nothing, so every body names its
``project_id``.
"""

import json
import os
import pathlib
import signal
import socket
import subprocess
import time
from typing import Any, Dict, List, Optional
import urllib.error
import urllib.parse
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / 'tools' / 'neutron_server.py'
DEFAULT_PYTHON = ROOT / '.venvs' / 'neutron' / 'bin' / 'python'
HOST = '127.0.0.1'
START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class NeutronError(RuntimeError):
    """Neutron did not start, died, or answered an HTTP error."""


class NeutronServer:
    """A Neutron API server in ``directory`` publishing on ``transport_url``.

    Its config, SQLite database, log (``neutron.log``) and ``server.json``
    live in ``directory``; a later :meth:`start` in the same directory
    keeps the database.
    """

    def __init__(self, directory: 'os.PathLike[str] | str',
                 transport_url: str,
                 python: 'os.PathLike[str] | str' = DEFAULT_PYTHON,
                 port: Optional[int] = None, debug: bool = False,
                 durable_queues: bool = False) -> None:
        """Remember the settings; nothing starts before :meth:`start`
        (``durable_queues``: Neutron's exchanges durable, for consumers
        with ``amqp_durable_queues``)."""
        self.directory = pathlib.Path(directory).resolve()
        self.transport_url = transport_url
        self.python = pathlib.Path(python)
        self.http_port = port
        self.debug = debug
        self.durable_queues = durable_queues
        self.url = ''
        self.process: Optional[subprocess.Popen[bytes]] = None

    @property
    def log_path(self) -> pathlib.Path:
        """Neutron's log file (its stdout and stderr go there too)."""
        return self.directory / 'neutron.log'

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the log."""
        try:
            text = self.log_path.read_text(errors='replace')
        except OSError:
            return '(no log)'
        return '\n'.join(text.splitlines()[-lines:])

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Spawn the server; return once it answers (server.json)."""
        if self.process is not None and self.process.poll() is None:
            return
        if not self.python.exists():
            raise NeutronError('%s missing: run tools/neutron-env.sh'
                               % self.python)
        self.directory.mkdir(parents=True, exist_ok=True)
        info = self.directory / 'server.json'
        if info.exists():
            info.unlink()
        if self.http_port is None:
            self.http_port = free_port()
        cmd = [str(self.python), str(SCRIPT), '--dir', str(self.directory),
               '--port', str(self.http_port),
               '--transport-url', self.transport_url]
        if self.debug:
            cmd.append('--debug')
        if self.durable_queues:
            cmd.append('--durable-queues')
        with open(self.log_path, 'ab') as log:
            self.process = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, cwd=str(self.directory),
                start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if info.exists():
                try:
                    data = json.loads(info.read_text())
                except ValueError:
                    data = None
                if data:
                    self.url = data['url']
                    return
            code = self.process.poll()
            if code is not None:
                self.process = None
                raise NeutronError('Neutron exited with %s; log tail:\n%s'
                                   % (code, self.log_tail()))
            if time.monotonic() > deadline:
                self.stop()
                raise NeutronError('Neutron did not start in %s s; log '
                                   'tail:\n%s' % (timeout, self.log_tail()))
            time.sleep(0.2)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM the server (SIGKILL after ``timeout`` s) and wait."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> 'NeutronServer':
        """Start the server."""
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        """Stop the server."""
        self.stop()

    # -- the API -----------------------------------------------------------

    def api(self, method: str, path: str,
            body: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """Call the API (path under /v2.0 unless it starts with it).

        Returns the decoded JSON answer ({} for an empty one); raises
        :class:`NeutronError` with the answer's body on an HTTP error.
        """
        if not self.url:
            raise NeutronError('Neutron is not started')
        if not path.startswith('/'):
            path = '/' + path
        if not path.startswith('/v2.0'):
            path = '/v2.0' + path
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method.upper(),
            headers={'Content-Type': 'application/json',
                     'Accept': 'application/json'})
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors='replace')
            raise NeutronError('%s %s: HTTP %s: %s'
                               % (method, path, exc.code, detail)) from None
        if not raw:
            return {}
        answer: Dict[str, Any] = json.loads(raw)
        return answer

    def topology(self, project_id: str) -> Dict[str, str]:
        """External flat network + subnet, internal network + subnet, and a
        router between them; returns their ids (``external_network_id``,
        ``external_subnet_id``, ``internal_network_id``,
        ``internal_subnet_id``, ``router_id``)."""
        ext = self.api('POST', '/networks', {'network': {
            'name': 'public', 'project_id': project_id,
            'router:external': True,
            'provider:network_type': 'flat',
            'provider:physical_network': 'public'}})['network']
        ext_subnet = self.api('POST', '/subnets', {'subnet': {
            'name': 'public-subnet', 'project_id': project_id,
            'network_id': ext['id'], 'ip_version': 4,
            'cidr': '203.0.113.0/24', 'enable_dhcp': False}})['subnet']
        net = self.api('POST', '/networks', {'network': {
            'name': 'private', 'project_id': project_id}})['network']
        subnet = self.api('POST', '/subnets', {'subnet': {
            'name': 'private-subnet', 'project_id': project_id,
            'network_id': net['id'], 'ip_version': 4,
            'cidr': '10.0.0.0/24', 'enable_dhcp': False}})['subnet']
        router = self.api('POST', '/routers', {'router': {
            'name': 'router', 'project_id': project_id,
            'external_gateway_info': {'network_id': ext['id']}}})['router']
        self.api('PUT', '/routers/%s/add_router_interface' % router['id'],
                 {'subnet_id': subnet['id']})
        return {'external_network_id': ext['id'],
                'external_subnet_id': ext_subnet['id'],
                'internal_network_id': net['id'],
                'internal_subnet_id': subnet['id'],
                'router_id': router['id']}

    def port(self, project_id: str, network_id: str, device_id: str,
             device_owner: str = 'compute:nova') -> Dict[str, Any]:
        """Create a port (as Nova does for an instance); returns it."""
        port: Dict[str, Any] = self.api('POST', '/ports', {'port': {
            'project_id': project_id, 'network_id': network_id,
            'device_id': device_id, 'device_owner': device_owner}})['port']
        return port

    def update_port(self, port_id: str, **fields: Any) -> Dict[str, Any]:
        """Update a port's fields; returns it."""
        port: Dict[str, Any] = self.api(
            'PUT', '/ports/%s' % port_id, {'port': fields})['port']
        return port

    def floating_ip(self, project_id: str, ext_net_id: str,
                    port_id: Optional[str] = None) -> Dict[str, Any]:
        """Create a floating IP (associated when ``port_id``); returns it."""
        body: Dict[str, Any] = {'project_id': project_id,
                                'floating_network_id': ext_net_id}
        if port_id is not None:
            body['port_id'] = port_id
        fip: Dict[str, Any] = self.api(
            'POST', '/floatingips', {'floatingip': body})['floatingip']
        return fip

    def associate(self, fip_id: str, port_id: str) -> Dict[str, Any]:
        """Associate a floating IP with a port; returns the floating IP."""
        fip: Dict[str, Any] = self.api(
            'PUT', '/floatingips/%s' % fip_id,
            {'floatingip': {'port_id': port_id}})['floatingip']
        return fip

    def disassociate(self, fip_id: str) -> Dict[str, Any]:
        """Disassociate a floating IP; returns it."""
        fip: Dict[str, Any] = self.api(
            'PUT', '/floatingips/%s' % fip_id,
            {'floatingip': {'port_id': None}})['floatingip']
        return fip

    def delete_port(self, port_id: str) -> None:
        """Delete a port."""
        self.api('DELETE', '/ports/%s' % port_id)

    def delete_floating_ip(self, fip_id: str) -> None:
        """Delete a floating IP."""
        self.api('DELETE', '/floatingips/%s' % fip_id)

    def list(self, collection: str,
             **filters: str) -> List[Dict[str, Any]]:
        """List a collection (``ports``, ``floatingips``...), filtered."""
        query = '&'.join('%s=%s' % (k, urllib.parse.quote(v))
                         for k, v in sorted(filters.items()))
        path = '/%s%s' % (collection, '?' + query if query else '')
        items: List[Dict[str, Any]] = self.api('GET', path)[collection]
        return items
