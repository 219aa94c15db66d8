"""RFC 2136 dynamic updates with dnspython: BIND, PowerDNS, Knot, ...

One UPDATE message per :meth:`Rfc2136Backend.apply` call, signed with TSIG
when ``key_name`` is set. Adding a present record and deleting an absent one
are no-ops by RFC 2136, so a retried batch is harmless. Messages go over UDP
unless they exceed 512 octets (no EDNS in updates) or the answer comes back
truncated; then over TCP. Every exchange has an explicit timeout: without
one dnspython waits forever.

:meth:`Rfc2136Backend.records` reads a zone by AXFR (the server must allow
transfers to the key), :meth:`Rfc2136Backend.check` queries the SOA of every
zone and sends prerequisite-only updates, which change nothing.

Works with dnspython 1.15 (Ussuri) and 2.x. Messages of
:class:`BackendError` never contain the key secret.
"""

import base64
import binascii
import ipaddress
import socket
import struct
import time
from typing import Any, Dict, FrozenSet, List, Optional, Sequence, Tuple

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.update
from oslo_config import cfg

from novahooks_core.plugin import CheckResult
from novahooks_dns.backends import (
    BackendError,
    Change,
    DnsBackend,
    net_changes,
)
from novahooks_dns.records import Record, absolute

GROUP = 'dns_rfc2136'
PLUGIN = 'dns'

#: Largest message sent over UDP: updates carry no EDNS OPT record.
UDP_LIMIT = 512

#: TSIG algorithms by their names in BIND's key statements. Given to
#: dnspython as text, which it turns into names of its own modules: under
#: eventlet's greendns those may be other copies than the ones imported
#: here (a name made here would then be unknown to dns.tsig).
ALGORITHMS: Dict[str, str] = {
    'hmac-sha256': 'hmac-sha256.',
    'hmac-sha512': 'hmac-sha512.',
    'hmac-sha1': 'hmac-sha1.',
    'hmac-md5': 'hmac-md5.sig-alg.reg.int.',
}

_TYPES = {
    int(dns.rdatatype.A): 'A',
    int(dns.rdatatype.AAAA): 'AAAA',
    int(dns.rdatatype.PTR): 'PTR',
}

OPTS = [
    cfg.StrOpt('server', default='127.0.0.1',
               help='Address (or host name) of the primary server that '
                    'accepts dynamic updates (RFC 2136) and zone transfers '
                    'for the zones.'),
    cfg.PortOpt('port', default=53,
                help='Port of the server, UDP and TCP.'),
    cfg.StrOpt('key_name', default='',
               help='Name of the TSIG key that signs updates and zone '
                    'transfers. Empty: unsigned (the server must then allow '
                    'updates by address, which is not recommended).'),
    cfg.StrOpt('key_secret', default='', secret=True,
               help='Base64 secret of the TSIG key (the "secret" of '
                    'tsig-keygen\'s output).'),
    cfg.StrOpt('key_algorithm', default='hmac-sha256',
               choices=sorted(ALGORITHMS),
               help='Algorithm of the TSIG key.'),
    cfg.FloatOpt('timeout', default=2.0, min=0.1,
                 help='Seconds to wait for the server in one exchange (one '
                      'update, one query, one zone transfer message). A '
                      'shorter budget of the caller wins.'),
]

_Keyring = Optional[Tuple[Dict[dns.name.Name, Any], dns.name.Name, str]]


class UnsignedAnswer(dns.exception.DNSException):
    """A signed request got an unsigned answer (PowerDNS and Knot leave
    many error answers unsigned): only its rcode is read, and nothing in
    it is trusted, not even a NOERROR."""

    def __init__(self, rcode: Any) -> None:
        super().__init__('unsigned answer %s' % dns.rcode.to_text(rcode))
        self.rcode = rcode


#: What an answer to a signed request most likely means, by rcode.
_CAUSES = {
    'REFUSED': 'the key may be unknown to the server, its secret or '
               'algorithm wrong, or the key not allowed for this zone',
    'NOTAUTH': 'the zone may not be served there, or the key be unknown '
               'to the server, its secret or algorithm wrong, or the key '
               'not allowed for this zone',
    'NOTZONE': 'a record is outside the zone',
}


def answered(rcode: Any, signed: bool = True) -> str:
    """How to report an error rcode, with its likely causes; ``signed``:
    whether the answer carried a valid signature."""
    text = dns.rcode.to_text(rcode)
    cause = _CAUSES.get(text)
    return 'server answered %s%s%s' % (
        text, '' if signed else ' without signing it (only its rcode is '
        'read)', ': %s' % cause if cause else '')


class Rfc2136Backend(DnsBackend):
    """Publishes records by RFC 2136 dynamic update."""

    options = OPTS

    # -- configuration ----------------------------------------------------

    def _opts(self) -> Any:
        return getattr(self.conf, GROUP)

    def _exchange_timeout(self) -> float:
        return float(self._opts().timeout)

    def _where(self) -> Tuple[str, int]:
        """The server's address and port; resolves a host name."""
        opts = self._opts()
        server, port = str(opts.server).strip(), int(opts.port)
        try:
            ipaddress.ip_address(server)
            return server, port
        except ValueError:
            pass
        try:
            infos = socket.getaddrinfo(server, port, 0, socket.SOCK_DGRAM)
        except OSError as exc:
            raise BackendError('cannot resolve server %r: %s'
                               % (server, exc)) from None
        return str(infos[0][4][0]), port

    def _label(self) -> str:
        opts = self._opts()
        return '%s:%s' % (opts.server, opts.port)

    def _keyring(self) -> _Keyring:
        """(keyring, key name, algorithm), or None for unsigned messages."""
        opts = self._opts()
        name = (opts.key_name or '').strip()
        if not name:
            return None
        secret = (opts.key_secret or '').strip()
        if not secret:
            raise BackendError('[%s] key_name is set but key_secret is empty'
                               % GROUP)
        algorithm = ALGORITHMS.get(opts.key_algorithm)
        if algorithm is None:
            raise BackendError('[%s] unsupported key_algorithm %r'
                               % (GROUP, opts.key_algorithm))
        try:
            keyname = dns.name.from_text(name)
        except dns.exception.DNSException:
            raise BackendError('[%s] key_name %r is not a valid DNS name'
                               % (GROUP, name)) from None
        try:
            # What dns.tsigkeyring.from_text makes of a plain secret in
            # dnspython 1.15 and 2.x alike, but strict about base64 (1.15
            # skips stray characters) and without 1.15's deprecated
            # base64.decodestring.
            raw = base64.b64decode(secret, validate=True)
        except (binascii.Error, ValueError):
            raw = b''
        if not raw:
            raise BackendError('[%s] key_secret is not valid base64' % GROUP)
        keyring: Dict[dns.name.Name, Any] = {keyname: raw}
        return keyring, keyname, algorithm

    def _safe(self, text: str) -> str:
        """``text`` with the key secret blanked, should it ever appear."""
        secret = (self._opts().key_secret or '').strip()
        if secret and secret in text:
            text = text.replace(secret, '***')
        return text

    def _error(self, what: str, exc: BaseException,
               timeout: Optional[float] = None) -> BackendError:
        """A :class:`BackendError` describing ``exc`` (never the secret)."""
        return BackendError(self._safe('%s: %s' % (what, self._describe(
            exc, timeout))))

    def _describe(self, exc: BaseException,
                  timeout: Optional[float] = None) -> str:
        key = (self._opts().key_name or '').strip()
        server = self._label()
        if isinstance(exc, dns.tsig.PeerBadKey):
            return ('server %s does not know TSIG key %r with algorithm %s, '
                    'or does not allow it for this zone (BADKEY)'
                    % (server, key, self._opts().key_algorithm))
        if isinstance(exc, dns.tsig.PeerBadSignature):
            return ('server %s rejected the signature of TSIG key %r '
                    '(BADSIG: wrong key_secret or key_algorithm?)'
                    % (server, key))
        if isinstance(exc, dns.tsig.PeerBadTime):
            return ('server %s rejected the time of the TSIG signature '
                    '(BADTIME: are the clocks in sync?)' % server)
        if isinstance(exc, dns.tsig.PeerError):
            return 'server %s reported a TSIG error: %s' % (
                server, type(exc).__name__)
        if isinstance(exc, (dns.tsig.BadSignature, dns.tsig.BadTime)):
            return ('the answer of %s failed TSIG verification (%s)'
                    % (server, type(exc).__name__))
        if isinstance(exc, dns.message.UnknownTSIGKey):
            return 'the answer of %s is signed with an unknown key' % server
        if isinstance(exc, dns.exception.Timeout):
            if timeout is not None:
                return 'no answer from %s within %.3g s' % (server, timeout)
            return 'no answer from %s in time' % server
        if isinstance(exc, ConnectionRefusedError):
            return 'connection refused by %s' % server
        if isinstance(exc, EOFError):
            return '%s closed the connection' % server
        if isinstance(exc, OSError):
            return '%s: %s' % (server, exc.strerror or exc)
        if isinstance(exc, UnsignedAnswer):
            return answered(exc.rcode, signed=False)
        rcode: Any = getattr(exc, 'rcode', None)
        if rcode is not None:  # dnspython 2: dns.query.TransferError
            return answered(rcode)
        text = str(exc) or type(exc).__name__
        return '%s (%s)' % (text, type(exc).__name__)

    # -- exchanges --------------------------------------------------------

    def _send(self, message: dns.message.Message, where: Tuple[str, int],
              deadline: float) -> dns.message.Message:
        """UDP, or TCP for big messages and truncated answers."""
        host, port = where
        cap = self._exchange_timeout()
        timeout = min(cap, deadline - time.monotonic())
        if timeout <= 0:
            raise dns.exception.Timeout()
        wire = message.to_wire()  # rendered (and signed) once
        if len(wire) > UDP_LIMIT:
            return exchange(message, host, port, timeout, tcp=True,
                            wire=wire)
        response = exchange(message, host, port, timeout, tcp=False,
                            wire=wire)
        if response.flags & dns.flags.TC:
            timeout = min(cap, deadline - time.monotonic())
            if timeout <= 0:
                raise dns.exception.Timeout()
            response = exchange(message, host, port, timeout, tcp=True,
                                wire=wire)
        return response

    def _update(self, zone: str, keyring: _Keyring) -> dns.update.Update:
        if keyring is None:
            return dns.update.Update(zone)
        ring, keyname, algorithm = keyring
        return dns.update.Update(zone, keyring=ring, keyname=keyname,
                                 keyalgorithm=algorithm)

    # -- DnsBackend -------------------------------------------------------

    def apply(self, zone: str, changes: Sequence[Change],
              timeout: float) -> None:
        zone = absolute(zone)
        if not changes:
            return
        deadline = time.monotonic() + float(timeout)
        budget = min(float(timeout), self._exchange_timeout())
        keyring = self._keyring()
        try:
            update = self._update(zone, keyring)
            for change in net_changes(changes):
                record = change.record
                name = absolute(record.name)
                if change.op == 'add':
                    update.add(name, int(record.ttl), record.rtype,
                               record.value)
                elif change.op == 'delete':
                    update.delete(name, record.rtype, record.value)
                else:
                    raise BackendError('%s: unknown change %r'
                                       % (zone, change.op))
        except dns.exception.DNSException as exc:
            raise BackendError(self._safe('%s: cannot build the update: %s'
                                          % (zone, exc))) from None
        where = self._where()
        try:
            response = self._send(update, where, deadline)
        except (dns.exception.DNSException, OSError, EOFError) as exc:
            raise self._error(zone, exc, budget) from None
        rcode = response.rcode()
        if rcode != dns.rcode.NOERROR:
            raise BackendError('%s: %s' % (zone, answered(rcode)))

    def records(self, zone: str, timeout: float) -> FrozenSet[Record]:
        zone = absolute(zone)
        budget = float(timeout)
        per_message = min(budget, self._exchange_timeout())
        keyring = self._keyring()
        ring, keyname, algorithm = keyring or (None, None,
                                              ALGORITHMS['hmac-md5'])
        host, port = self._where()
        found: List[Record] = []
        try:
            for message in dns.query.xfr(
                    host, zone, port=port, keyring=ring, keyname=keyname,
                    keyalgorithm=algorithm, relativize=False,
                    timeout=per_message, lifetime=budget):
                for rrset in message.answer:
                    rtype = _TYPES.get(int(rrset.rdtype))
                    if rtype is None:
                        continue
                    name = absolute(rrset.name.to_text())
                    for rdata in rrset:
                        found.append(Record(zone, name, rtype,
                                            _value(rtype, rdata),
                                            int(rrset.ttl)))
        except dns.exception.FormError as exc:
            # dnspython 1.15 does not look at the rcode of a transfer: a
            # refusal surfaces as "No answer or RRset not for qname".
            raise self._transfer_refused(zone, keyring, exc,
                                         per_message) from None
        except (dns.exception.DNSException, OSError, EOFError) as exc:
            raise self._error('%s: zone transfer' % zone, exc,
                              per_message) from None
        return frozenset(found)

    def _transfer_refused(self, zone: str, keyring: _Keyring,
                          exc: Exception, timeout: float) -> BackendError:
        """Why an AXFR had no answer: ask once more, read one message."""
        query = dns.message.make_query(zone, dns.rdatatype.AXFR)
        if keyring is not None:
            ring, keyname, algorithm = keyring
            query.use_tsig(ring, keyname, algorithm=algorithm)
        host, port = self._where()
        try:
            response = exchange(query, host, port, timeout, tcp=True)
        except UnsignedAnswer as unsigned:
            return self._error('%s: zone transfer' % zone, unsigned)
        except (dns.exception.DNSException, OSError, EOFError):
            return self._error('%s: zone transfer' % zone, exc)
        rcode = response.rcode()
        if rcode != dns.rcode.NOERROR:
            return BackendError('%s: zone transfer: %s'
                                % (zone, answered(rcode)))
        return self._error('%s: zone transfer' % zone, exc)

    def check(self, zones: Sequence[str]) -> List[CheckResult]:
        zones = [absolute(z) for z in zones]
        server = self._label()
        results: List[CheckResult] = []
        try:
            where = self._where()
        except BackendError as exc:
            return [CheckResult(PLUGIN, 'rfc2136 server %s reachable'
                                % server, False, str(exc))]
        timeout = self._exchange_timeout()

        served: Dict[str, Tuple[bool, str]] = {}
        reachable, failure = False, ''
        for zone in zones:
            if failure and not reachable:
                # One timeout is enough: do not wait once per zone.
                served[zone] = (False, 'not checked: %s' % failure)
                continue
            query = dns.message.make_query(zone, dns.rdatatype.SOA)
            try:
                response = exchange(query, where[0], where[1], timeout,
                                    tcp=False)
            except (dns.exception.DNSException, OSError, EOFError) as exc:
                failure = self._safe(self._describe(exc, timeout))
                served[zone] = (False, 'not checked: %s' % failure)
                continue
            reachable = True
            served[zone] = _served(zone, response)
        results.append(CheckResult(
            PLUGIN, 'rfc2136 server %s reachable' % server, reachable,
            'answers SOA queries' if reachable else
            (failure or 'no zone to query')))

        # Each served zone gets a no-op update: the key is accepted only
        # where the answer is a signed NOERROR.
        probes = {zone: self._probe_updates(zone, where)
                  for zone in zones if served[zone][0] and reachable}
        key_ok, key_detail = self._key_verdict(zones, probes, reachable)
        key_name = (self._opts().key_name or '').strip()
        results.append(CheckResult(
            PLUGIN, 'rfc2136 TSIG key %s accepted' % (key_name or '(none)'),
            key_ok, key_detail))

        for zone in zones:
            ok, detail = served[zone]
            if zone in probes:
                ok, detail = probes[zone]
            elif ok:
                detail += '; updates not checked'
            results.append(CheckResult(PLUGIN, 'rfc2136 zone %s served'
                                       % zone, ok, detail))
        return results

    def _prerequisite_only(self, zone: str, where: Tuple[str, int]
                           ) -> dns.message.Message:
        """Send an update that changes nothing: "the zone has an SOA"."""
        update = self._update(zone, self._keyring())
        update.present(zone, dns.rdatatype.SOA)
        return self._send(update, where,
                          time.monotonic() + self._exchange_timeout())

    def _key_verdict(self, zones: Sequence[str],
                     probes: Dict[str, Tuple[bool, str]],
                     reachable: bool) -> Tuple[bool, str]:
        """Whether the key is accepted: a signed NOERROR from some zone."""
        try:
            keyring = self._keyring()
        except BackendError as exc:
            return False, str(exc)
        if keyring is None:
            return True, 'no key_name: updates are not signed'
        if not zones:
            return False, 'not checked: no zone'
        if not reachable:
            return False, 'not checked: server not reachable'
        if not probes:
            return False, 'not checked: no zone is served'
        accepted = sorted(zone for zone, (ok, _) in probes.items() if ok)
        if accepted:
            return True, ('signed no-op updates answered NOERROR (signed) '
                          'for %d of %d zone(s)' % (len(accepted),
                                                    len(probes)))
        zone = sorted(probes)[0]
        return False, 'no zone accepted a signed update; %s: %s' % (
            zone, probes[zone][1])

    def _probe_updates(self, zone: str,
                       where: Tuple[str, int]) -> Tuple[bool, str]:
        """A no-op update to a served zone: accepted (a signed NOERROR when
        signed), or why not."""
        try:
            response = self._prerequisite_only(zone, where)
        except (dns.exception.DNSException, OSError, EOFError,
                BackendError) as exc:
            return False, 'served; updates: %s' % self._safe(
                str(exc) if isinstance(exc, BackendError)
                else self._describe(exc, self._exchange_timeout()))
        rcode = response.rcode()
        if rcode != dns.rcode.NOERROR:
            return False, ('served, but a no-op update: %s'
                           % answered(rcode))
        return True, 'served (authoritative), updates accepted'


def _receive(sock: socket.socket, size: int) -> bytes:
    data = b''
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionResetError('connection closed by the server')
        data += chunk
    return data


def exchange(message: dns.message.Message, host: str, port: int,
             timeout: float, tcp: bool,
             wire: Optional[bytes] = None) -> dns.message.Message:
    """Send ``message`` and read its answer (TSIG verified) with plain
    sockets and one overall timeout.

    Not ``dns.query``: dnspython 1.15 picks ``select.poll`` at import, which
    eventlet's monkey-patched ``select`` (as in every Nova service) lacks;
    a plain socket with a timeout works patched and unpatched alike.
    """
    if wire is None:
        wire = message.to_wire()
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    kind = socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM
    try:
        with socket.socket(family, kind) as sock:
            sock.settimeout(timeout)
            sock.connect((host, port))
            if tcp:
                sock.sendall(struct.pack('!H', len(wire)) + wire)
                size = struct.unpack('!H', _receive(sock, 2))[0]
                data = _receive(sock, size)
            else:
                sock.send(wire)
                data = sock.recv(65535)
    except socket.timeout:
        raise dns.exception.Timeout() from None
    signed = message.keyring is not None
    try:
        response = dns.message.from_wire(
            data, keyring=message.keyring, request_mac=message.mac or b'')
    except dns.exception.FormError:
        # dnspython 2 will not read an unsigned answer to a signed request
        # ("response requires a TSIG"); 1.15 reads it (below).
        if not signed:
            raise
        response = dns.message.from_wire(data)
        if response.had_tsig:
            raise
    if response.id != message.id:
        raise dns.exception.FormError('answer does not match the query id')
    if signed and not response.had_tsig:
        raise UnsignedAnswer(response.rcode())
    return response


def _value(rtype: str, rdata: Any) -> str:
    if rtype == 'PTR':
        return absolute(rdata.target.to_text())
    return str(ipaddress.ip_address(rdata.address))


def _served(zone: str, response: dns.message.Message) -> Tuple[bool, str]:
    rcode = response.rcode()
    if rcode != dns.rcode.NOERROR:
        return False, 'SOA query answered %s' % dns.rcode.to_text(rcode)
    if not response.flags & dns.flags.AA:
        return False, 'SOA answer is not authoritative (no AA flag)'
    name = dns.name.from_text(zone)
    if not any(rrset.name == name and rrset.rdtype == dns.rdatatype.SOA
               for rrset in response.answer):
        return False, 'no SOA record in the answer: not a zone apex'
    return True, 'served (authoritative)'
