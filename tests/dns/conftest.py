"""Real DNS servers for the DNS plugin's tests: BIND 9, Knot and PowerDNS
(tools/bind-server.sh, tools/knot-server.sh, tools/pdns-server.sh).

``bind``, ``knot``, ``pdns`` (session): the server on 127.0.0.1 on a free
port in a private directory, with the same zones and TSIG key.
``dns_server``: each of the three in turn (the backend's suites).
``rfc2136_server``: the server ``rfc2136_conf`` points at (``bind``; a
module running on every server overrides it with ``dns_server``).
``rfc2136_conf``: the novahooks configuration pointing at it.
``clean_zones`` (autouse): every test starts with no A/AAAA/PTR records.
"""

import base64
import ipaddress
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import time
from typing import Any, Dict, Iterator, List, Optional, Set, Type

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.update
from oslo_config import cfg
import pytest

from novahooks_core import config
from novahooks_core.state import db
from novahooks_core.testing import NovaRunner, factories
from novahooks_dns import service as dns_service
from novahooks_dns.backends.rfc2136 import Rfc2136Backend
from tests.servers import HOST, ROOT, ScriptServer

FORWARD_ZONE = 'cloud.internal.'
V4_ZONE = '0.0.10.in-addr.arpa.'
FLOATING_ZONE = '4.24.172.in-addr.arpa.'
V6_ZONE = '0.0.0.0.0.0.0.0.0.1.0.0.0.0.d.f.ip6.arpa.'
REFUSED_ZONE = 'refused.internal.'
REVERSE_ZONES = (V4_ZONE, FLOATING_ZONE, V6_ZONE)
ZONES = (FORWARD_ZONE,) + REVERSE_ZONES
#: Per server, the log lines of one update message processed (allowed,
#: denied or not authoritative), and of one failing its signature check.
_UPDATE_LINES = {
    'bind': (re.compile(
        r": update '[^']*' (approved|denied)$"
        r"|: update failed: .*not authoritative for update zone"), None),
    'knot': (re.compile(r'ACL, (allowed|denied), action update'),
             re.compile(r"TSIG, key '[^']*', verification failed")),
    'pdns': (re.compile(r'UPDATE \(\d+\) from .*: Processing started\.'),
             None),
}
#: The servers every backend test runs against.
SERVERS = ('bind', 'knot', 'pdns')
_TYPES = ('A', 'AAAA', 'PTR')


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((HOST, 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((HOST, port))
                except OSError:
                    continue
        if port not in (53, 5353):
            return port
    raise RuntimeError('no free port')


class DnsServer(ScriptServer):
    """A DNS server run by tools/KIND-server.sh in ``directory``."""

    kind = 'bind'
    script = ROOT / 'tools' / 'bind-server.sh'
    logs = ('script.log', 'named.log')
    stop_timeout = 30.0
    #: What the backend reports of this server's answer to an update
    #: signed with a wrong secret, with an unknown key, not signed, and
    #: to a zone that refuses the key's updates (each server its own way).
    reports = {'wrong secret': 'BADSIG', 'unknown key': 'BADKEY',
               'unsigned': 'server answered REFUSED',
               'refused zone': 'server answered REFUSED: ',
               'wrong secret, transfer': 'BADSIG'}

    @property
    def update_log(self) -> pathlib.Path:
        return pathlib.Path(self.info.get(
            'update_log', self.directory / 'update.log'))

    @property
    def key_name(self) -> str:
        return str(self.info['key_name'])

    @property
    def key_secret(self) -> str:
        return str(self.info['key_secret'])

    @property
    def algorithm(self) -> str:
        return str(self.info['algorithm'])

    @property
    def zones(self) -> List[str]:
        return list(self.info.get('zones', ()))

    @property
    def refused_zone(self) -> str:
        return str(self.info.get('refused_zone', REFUSED_ZONE))

    def environment(self) -> Dict[str, str]:
        return dict(os.environ, PYTHON=sys.executable)

    def _readies(self) -> int:
        path = self.directory / 'script.log'
        text = path.read_text(errors='replace') if path.exists() else ''
        return len(re.findall(r'^ready: ', text, re.M))

    def start(self, timeout: float = 60.0) -> None:
        """Start the server, and return once the script's own readiness
        check is done too: its SOA queries, sent until one is answered,
        are then all counted (:meth:`requests`) before a test looks."""
        if self.running():
            return
        readies = self._readies()
        super().start(timeout)
        deadline = time.monotonic() + timeout
        while self._readies() <= readies:
            if not self.running() or time.monotonic() > deadline:
                raise RuntimeError('%s did not say it was ready:\n%s' % (
                    self.script.name, self.log_tail()))
            time.sleep(0.05)

    def answers(self) -> bool:
        query = dns.message.make_query(FORWARD_ZONE, dns.rdatatype.SOA)
        try:
            response = dns.query.udp(query, self.host, timeout=0.2,
                                     port=self.port)
        except Exception:
            return False
        return response.rcode() == dns.rcode.NOERROR

    # -- helpers for tests ------------------------------------------------

    def keyring(self) -> dict:
        # Like dns.tsigkeyring.from_text, without dnspython 1.15's
        # deprecated base64.decodestring.
        return {dns.name.from_text(self.key_name):
                base64.b64decode(self.key_secret)}

    def update(self, zone: str) -> dns.update.Update:
        """An empty update for ``zone`` signed with the server's key."""
        return dns.update.Update(
            zone, keyring=self.keyring(),
            keyname=dns.name.from_text(self.key_name),
            keyalgorithm=dns.tsig.HMAC_SHA256)

    def send(self, message: dns.message.Message) -> dns.message.Message:
        return dns.query.tcp(message, self.host, timeout=5, port=self.port)

    def query(self, name: str, rtype: str) -> Set[str]:
        """The values ``name`` has for ``rtype`` (absolute names)."""
        qname = dns.name.from_text(name)
        query = dns.message.make_query(qname, rtype)
        response = dns.query.tcp(query, self.host, timeout=5,
                                 port=self.port)
        values = set()
        for rrset in response.answer:
            if rrset.name != qname:
                continue
            for rdata in rrset:
                if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                    values.add(str(ipaddress.ip_address(rdata.address)))
                elif rrset.rdtype == dns.rdatatype.PTR:
                    values.add(rdata.target.to_text().lower())
                else:
                    values.add(rdata.to_text())
        return values

    def zone_records(self, zone: str) -> Set[tuple]:
        """(name, type, value) of every A/AAAA/PTR in ``zone`` (AXFR)."""
        found = set()
        for message in dns.query.xfr(
                self.host, zone, port=self.port, keyring=self.keyring(),
                keyname=dns.name.from_text(self.key_name),
                keyalgorithm=dns.tsig.HMAC_SHA256, relativize=False,
                timeout=5, lifetime=10):
            for rrset in message.answer:
                rtype = dns.rdatatype.to_text(rrset.rdtype)
                if rtype in _TYPES:
                    for rdata in rrset:
                        found.add((rrset.name.to_text(), rtype,
                                   rdata.to_text()))
        return found

    def clear(self) -> None:
        """Delete every A/AAAA/PTR record from every zone."""
        for zone in self.zones:
            if zone == self.refused_zone:
                continue
            owners = {(name, rtype)
                      for name, rtype, _ in self.zone_records(zone)}
            if not owners:
                continue
            ordered = sorted(owners)
            # In UPDATEs of 500 deletions: one of thousands of names is
            # over a DNS message's size (the benchmark's boot storm).
            for start in range(0, len(ordered), 500):
                update = self.update(zone)
                for name, rtype in ordered[start:start + 500]:
                    update.delete(name, rtype)
                response = self.send(update)
                assert response.rcode() == dns.rcode.NOERROR, response

    def update_count(self) -> int:
        """Dynamic update messages the server has processed (allowed,
        denied or not authoritative), from its log; signature failures
        are not counted."""
        path = self.update_log
        if not path.exists():
            return 0
        processed, failed = _UPDATE_LINES[self.kind]
        lines = path.read_text(errors='replace').splitlines()
        return (sum(1 for line in lines if processed.search(line))
                - sum(1 for line in lines if failed and failed.search(line)))

    def requests(self) -> Dict[str, int]:
        """Requests (queries, updates, transfers) the server has received,
        by the transport they came over (``udp``, ``tcp``), as the server
        itself counts them."""
        raise NotImplementedError

    def wait_requests(self, before: Dict[str, int], count: int = 1,
                      timeout: float = 10.0) -> Dict[str, int]:
        """:meth:`requests` once the server counts ``count`` more than
        ``before`` (whatever their transport), or at ``timeout``: how many
        more of each transport."""
        deadline = time.monotonic() + timeout
        while True:
            now = self.requests()
            more = {kind: now.get(kind, 0) - before.get(kind, 0)
                    for kind in ('udp', 'tcp')}
            if sum(more.values()) >= count or time.monotonic() > deadline:
                return more
            time.sleep(0.05)


class BindServer(DnsServer):
    """named run by tools/bind-server.sh."""

    _REQUEST = re.compile(r': (UDP|TCP) request$', re.M)

    def requests(self) -> Dict[str, int]:
        # tools/bind-server.sh logs one line per request it receives.
        path = self.directory / 'requests.log'
        text = path.read_text(errors='replace') if path.exists() else ''
        found = {'udp': 0, 'tcp': 0}
        for transport in self._REQUEST.findall(text):
            found[transport.lower()] += 1
        return found


class KnotServer(DnsServer):
    """knotd run by tools/knot-server.sh."""

    kind = 'knot'
    script = ROOT / 'tools' / 'knot-server.sh'
    logs = ('script.log', 'knot.log')
    # Knot answers NOTAUTH, with TSIG error BADKEY for a key the zone's
    # ACL does not allow.
    reports = {'wrong secret': 'BADSIG', 'unknown key': 'BADKEY',
               'unsigned': 'server answered NOTAUTH',
               'refused zone': 'BADKEY', 'wrong secret, transfer': 'BADSIG'}

    def requests(self) -> Dict[str, int]:
        # The statistics module tools/knot-server.sh loads: lines such as
        # "mod-stats.request-protocol[udp4] = 3" (none while zero).
        done = subprocess.run(
            [_program('knotc'), '-s', str(self.directory / 'knot.sock'),
             'stats', 'mod-stats.request-protocol'],
            capture_output=True, text=True, timeout=30, check=True)
        found = {'udp': 0, 'tcp': 0}
        for kind, count in re.findall(
                r'request-protocol\[(udp|tcp)[46]\] = (\d+)', done.stdout):
            found[kind] += int(count)
        return found


class PdnsServer(DnsServer):
    """pdns_server run by tools/pdns-server.sh."""

    kind = 'pdns'
    script = ROOT / 'tools' / 'pdns-server.sh'
    logs = ('script.log', 'pdns.log')
    # PowerDNS answers a key it cannot verify with an unsigned REFUSED
    # (an unsigned NOTAUTH to a transfer).
    reports = {'wrong secret': 'server answered REFUSED without signing',
               'unknown key': 'server answered REFUSED without signing',
               'unsigned': 'server answered REFUSED',
               'refused zone': 'server answered REFUSED: ',
               'wrong secret, transfer': 'server answered NOTAUTH'}

    def requests(self) -> Dict[str, int]:
        # PowerDNS's own counters (updates and transfers included).
        found = {}
        for kind in ('udp', 'tcp'):
            done = subprocess.run(
                [_program('pdns_control'),
                 '--socket-dir=%s' % self.directory, 'show',
                 '%s-queries' % kind],
                capture_output=True, text=True, timeout=30, check=True)
            found[kind] = int(done.stdout.strip())
        return found


def _program(name: str) -> str:
    """``name`` on $PATH, or in /usr/sbin (Debian's control programs)."""
    return shutil.which(name) or str(pathlib.Path('/usr/sbin') / name)


def _serve(kind: Type[DnsServer], tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[DnsServer]:
    server = kind(tmp_path_factory.mktemp(kind.kind), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope='session')
def bind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsServer]:
    """named on a free port, for the whole session."""
    yield from _serve(BindServer, tmp_path_factory)


@pytest.fixture(scope='session')
def knot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsServer]:
    """knotd on a free port, for the whole session."""
    yield from _serve(KnotServer, tmp_path_factory)


@pytest.fixture(scope='session')
def pdns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsServer]:
    """pdns_server on a free port, for the whole session."""
    yield from _serve(PdnsServer, tmp_path_factory)


@pytest.fixture(params=SERVERS)
def dns_server(request: pytest.FixtureRequest) -> DnsServer:
    """Each DNS server in turn."""
    server: DnsServer = request.getfixturevalue(request.param)
    return server


@pytest.fixture
def rfc2136_server(bind: DnsServer) -> DnsServer:
    """The server ``rfc2136_conf`` points at."""
    return bind


@pytest.fixture(autouse=True)
def clean_zones(request: pytest.FixtureRequest) -> None:
    """Each test starts with a running server and empty zones."""
    for name in ('dns_server', 'bind'):
        if name in request.fixturenames:
            server: DnsServer = request.getfixturevalue(name)
            server.start()
            server.clear()
            return


def write_conf(path: pathlib.Path, bind: DnsServer, state: pathlib.Path,
               secret: Optional[str] = None) -> cfg.ConfigOpts:
    path.write_text(
        '[DEFAULT]\n'
        'enabled_plugins = dns\n'
        'state_dir = %(state)s\n'
        '\n'
        '[dns]\n'
        'backend = rfc2136\n'
        'zone = %(zone)s\n'
        'reverse_zones = %(reverse)s\n'
        # What a hook sends at once is asserted right after it: on a
        # loaded machine the default 200 ms can pass before the send (the
        # change then goes out from the worker; tests that mean the budget
        # set it).
        'send_budget_ms = 10000\n'
        '\n'
        '[dns_rfc2136]\n'
        'server = %(host)s\n'
        'port = %(port)d\n'
        'key_name = %(key_name)s\n'
        'key_secret = %(secret)s\n'
        'key_algorithm = %(algorithm)s\n'
        'timeout = 2.0\n' % {
            'state': state, 'zone': FORWARD_ZONE,
            'reverse': ','.join(REVERSE_ZONES), 'host': bind.host,
            'port': bind.port, 'key_name': bind.key_name,
            'secret': bind.key_secret if secret is None else secret,
            'algorithm': bind.algorithm})
    config.reset()
    conf = config.load(str(path))
    config.register_plugin_opts('dns_rfc2136', Rfc2136Backend.options)
    return conf


@pytest.fixture
def rfc2136_conf(rfc2136_server: DnsServer,
                 tmp_path: pathlib.Path) -> cfg.ConfigOpts:
    """The novahooks configuration (dns plugin, rfc2136 backend) for
    ``rfc2136_server``, written where $NOVAHOOKS_CONFIG points, and
    loaded."""
    path = pathlib.Path(os.environ.get(config.CONFIG_ENV)
                        or tmp_path / 'novahooks.conf')
    return write_conf(path, rfc2136_server, tmp_path / 'state')


@pytest.fixture(autouse=True)
def _fresh_dns_service() -> Iterator[None]:
    """Each test builds the DNS service and its database anew."""
    dns_service.reset()
    db.reset()
    yield
    dns_service.reset()
    db.reset()


def without_background_sender() -> None:
    """This process's DNS background sender stopped, its send in progress
    waited for, and the service to be built anew: what the test does next
    (an operator's flush, the next hook) runs alone, never racing a retry
    that the sender started on its own."""
    dns_service.service().sender.stop(wait=30)
    dns_service.reset()


def build(runner: NovaRunner, hostname: str, address: str,
          **fields: Any) -> Any:
    """An active instance with one address, built through ``runner``."""
    inst = factories.instance(state='active', host='c1', hostname=hostname,
                              network=factories.network_info(
                                  factories.vif(address)), **fields)
    args, _ = factories.build_instance_args(inst)
    assert runner.call('build_instance', lambda *a: 'active', *args) \
        == 'active'
    return inst
