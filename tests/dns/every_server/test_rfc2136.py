"""Rfc2136Backend against real BIND 9, Knot and PowerDNS servers
(tests/dns/conftest.py)."""

import ipaddress
from typing import List

import dns.flags
import pytest

from novahooks_dns.backends import BackendError, Change, rfc2136
from novahooks_dns.backends.rfc2136 import UDP_LIMIT, Rfc2136Backend
from novahooks_dns.records import Record, absolute
from tests.dns.conftest import (
    FLOATING_ZONE,
    FORWARD_ZONE,
    REFUSED_ZONE,
    REVERSE_ZONES,
    V4_ZONE,
    V6_ZONE,
    ZONES,
    DnsServer,
    write_conf,
)

TTL = 300
WRONG_SECRET = 'd3JvbmcgZ3Vlc3Mgb2YgYSBzZWNyZXQgLSAzMiBieXRlcyE='


def a(name, address, zone=FORWARD_ZONE, ttl=TTL):
    rtype = 'A' if ipaddress.ip_address(address).version == 4 else 'AAAA'
    return Record(zone, absolute(name), rtype, address, ttl)


def ptr(address, target, zone, ttl=TTL):
    return Record(zone, absolute(ipaddress.ip_address(address)
                                 .reverse_pointer), 'PTR', absolute(target),
                  ttl)


def adds(*records):
    return [Change('add', r) for r in records]


def deletes(*records):
    return [Change('delete', r) for r in records]


WEB = a('web-1.cloud.internal.', '10.0.0.5')
WEB6 = a('web-1.cloud.internal.', 'fd00:10::5')
WEB_FIP = a('web-1-fip.cloud.internal.', '172.24.4.10')
WEB_PTR = ptr('10.0.0.5', 'web-1.cloud.internal.', V4_ZONE)
WEB6_PTR = ptr('fd00:10::5', 'web-1.cloud.internal.', V6_ZONE)
WEB_FIP_PTR = ptr('172.24.4.10', 'web-1-fip.cloud.internal.', FLOATING_ZONE)


@pytest.fixture
def backend(rfc2136_conf):
    return Rfc2136Backend(rfc2136_conf)


@pytest.fixture
def wrong_key_backend(server, tmp_path):
    conf = write_conf(tmp_path / 'wrong.conf', server, tmp_path / 'state',
                      secret=WRONG_SECRET)
    return Rfc2136Backend(conf)


def assert_no_secret(exc_info, server):
    text = str(exc_info.value)
    assert server.key_secret not in text
    assert WRONG_SECRET not in text
    return text


def test_zone_names():
    # fd00:10::/64: 16 nibbles of the address make the reverse zone.
    pointer = ipaddress.ip_address('fd00:10::1').reverse_pointer
    assert V6_ZONE == '.'.join(pointer.split('.')[16:]) + '.'
    assert set(ZONES) == {FORWARD_ZONE} | set(REVERSE_ZONES)


def test_options_registered(rfc2136_conf, server):
    opts = rfc2136_conf.dns_rfc2136
    assert (opts.server, opts.port, opts.key_name) == (
        '127.0.0.1', server.port, server.key_name)
    assert opts.key_algorithm == 'hmac-sha256'
    assert opts.timeout == 2.0
    assert rfc2136_conf.enabled_plugins == ['dns']


def test_add_a_aaaa_ptr_in_one_message_each_zone(backend, server):
    before = server.update_count()
    backend.apply(FORWARD_ZONE, adds(WEB, WEB6, WEB_FIP), timeout=5)
    assert server.update_count() == before + 1
    backend.apply(V4_ZONE, adds(WEB_PTR), timeout=5)
    backend.apply(V6_ZONE, adds(WEB6_PTR), timeout=5)
    backend.apply(FLOATING_ZONE, adds(WEB_FIP_PTR), timeout=5)
    assert server.update_count() == before + 4

    assert server.query('web-1.cloud.internal.', 'A') == {'10.0.0.5'}
    assert server.query('web-1.cloud.internal.', 'AAAA') == {'fd00:10::5'}
    assert server.query('web-1-fip.cloud.internal.', 'A') == {'172.24.4.10'}
    assert server.query('5.0.0.10.in-addr.arpa.', 'PTR') == {
        'web-1.cloud.internal.'}
    assert server.query('10.4.24.172.in-addr.arpa.', 'PTR') == {
        'web-1-fip.cloud.internal.'}
    assert server.query(WEB6_PTR.name, 'PTR') == {'web-1.cloud.internal.'}


def test_delete(backend, server):
    other = a('web-2.cloud.internal.', '10.0.0.6')
    backend.apply(FORWARD_ZONE, adds(WEB, WEB6, other), timeout=5)
    backend.apply(FORWARD_ZONE, deletes(WEB, WEB6), timeout=5)
    assert server.query('web-1.cloud.internal.', 'A') == set()
    assert server.query('web-1.cloud.internal.', 'AAAA') == set()
    assert server.query('web-2.cloud.internal.', 'A') == {'10.0.0.6'}


def test_delete_removes_only_that_value(backend, server):
    second = a('web-1.cloud.internal.', '10.0.0.99')
    backend.apply(FORWARD_ZONE, adds(WEB, second), timeout=5)
    assert server.query('web-1.cloud.internal.', 'A') == {'10.0.0.5',
                                                        '10.0.0.99'}
    backend.apply(FORWARD_ZONE, deletes(second), timeout=5)
    assert server.query('web-1.cloud.internal.', 'A') == {'10.0.0.5'}


def test_changes_apply_in_order(backend, server):
    backend.apply(FORWARD_ZONE, adds(WEB) + deletes(WEB) + adds(WEB),
                  timeout=5)
    assert server.query('web-1.cloud.internal.', 'A') == {'10.0.0.5'}
    backend.apply(FORWARD_ZONE, adds(WEB) + deletes(WEB), timeout=5)
    assert server.query('web-1.cloud.internal.', 'A') == set()


def test_idempotent(backend, server):
    backend.apply(FORWARD_ZONE, adds(WEB, WEB6), timeout=5)
    backend.apply(FORWARD_ZONE, adds(WEB, WEB6), timeout=5)
    assert server.query('web-1.cloud.internal.', 'A') == {'10.0.0.5'}
    assert backend.records(FORWARD_ZONE, timeout=5) == {WEB, WEB6}
    backend.apply(FORWARD_ZONE, deletes(WEB, WEB6), timeout=5)
    backend.apply(FORWARD_ZONE, deletes(WEB, WEB6), timeout=5)
    assert backend.records(FORWARD_ZONE, timeout=5) == frozenset()


def test_no_changes_send_nothing(backend, server):
    before = server.update_count()
    backend.apply(FORWARD_ZONE, [], timeout=5)
    assert server.update_count() == before


def hosts(count: int) -> List[Record]:
    return [a('host-%d.cloud.internal.' % i,
              '10.0.%d.%d' % (i // 250, i % 250 + 1)) for i in range(count)]


def wire_size(server: DnsServer, records: List[Record]) -> int:
    """Octets of one signed update adding ``records``."""
    message = server.update(FORWARD_ZONE)
    for record in records:
        message.add(record.name, record.ttl, record.rtype, record.value)
    return len(message.to_wire())


def test_a_small_update_goes_over_udp(backend: Rfc2136Backend,
                                      server: DnsServer) -> None:
    """The server counts the update as a request over UDP (and so can see
    one: what the TCP tests below rely on)."""
    records = hosts(3)
    assert wire_size(server, records) <= UDP_LIMIT
    before = server.requests()
    backend.apply(FORWARD_ZONE, adds(*records), timeout=5)
    assert server.wait_requests(before) == {'udp': 1, 'tcp': 0}
    assert backend.records(FORWARD_ZONE, timeout=5) == frozenset(records)


@pytest.mark.parametrize('count', [25, 500], ids=['just-over', 'far-over'])
def test_an_update_over_512_octets_goes_over_tcp(
        backend: Rfc2136Backend, server: DnsServer, count: int) -> None:
    """Just over the limit (a size every server would take over UDP too:
    only the transport tells) and far over it: one request, over TCP, as
    the server itself counts it."""
    records = hosts(count)
    size = wire_size(server, records)
    assert UDP_LIMIT < size
    assert size < 2 * UDP_LIMIT if count == 25 else size > 20 * UDP_LIMIT
    before_updates, before = server.update_count(), server.requests()
    backend.apply(FORWARD_ZONE, adds(*records), timeout=5)
    assert server.wait_requests(before) == {'udp': 0, 'tcp': 1}
    assert server.update_count() == before_updates + 1
    assert backend.records(FORWARD_ZONE, timeout=10) == frozenset(records)
    last = records[-1]
    assert server.query(last.name, 'A') == {last.value}

    before = server.requests()
    backend.apply(FORWARD_ZONE, deletes(*records), timeout=5)
    assert server.wait_requests(before) == {'udp': 0, 'tcp': 1}
    assert backend.records(FORWARD_ZONE, timeout=10) == frozenset()


def test_truncated_udp_answer_is_retried_over_tcp(backend, server,
                                                  monkeypatch):
    real_exchange, calls = rfc2136.exchange, []

    def truncating_udp(message, host, port, timeout, tcp, wire=None):
        response = real_exchange(message, host, port, timeout, tcp, wire)
        if not tcp:
            calls.append(timeout)
            response.flags |= dns.flags.TC
        return response

    monkeypatch.setattr(rfc2136, 'exchange', truncating_udp)
    before, requests = server.update_count(), server.requests()
    backend.apply(FORWARD_ZONE, adds(WEB), timeout=5)
    # Sent twice (UDP, then TCP); adding a present record changes nothing.
    assert server.update_count() == before + 2
    assert server.wait_requests(requests, count=2) == {'udp': 1, 'tcp': 1}
    assert len(calls) == 1 and 0 < calls[0] <= 2.0
    assert server.query('web-1.cloud.internal.', 'A') == {'10.0.0.5'}


def test_timeout_is_capped_by_option_and_budget(backend, server,
                                                monkeypatch):
    real_exchange, timeouts = rfc2136.exchange, []

    def recording(message, host, port, timeout, tcp, wire=None):
        timeouts.append(timeout)
        return real_exchange(message, host, port, timeout, tcp, wire)

    monkeypatch.setattr(rfc2136, 'exchange', recording)
    backend.apply(FORWARD_ZONE, adds(WEB), timeout=60)
    backend.apply(FORWARD_ZONE, adds(WEB), timeout=0.5)
    assert timeouts[0] <= 2.0
    assert timeouts[1] <= 0.5


def test_wrong_secret(wrong_key_backend, server):
    with pytest.raises(BackendError) as exc_info:
        wrong_key_backend.apply(FORWARD_ZONE, adds(WEB), timeout=5)
    text = assert_no_secret(exc_info, server)
    assert server.reports['wrong secret'] in text
    assert server.query('web-1.cloud.internal.', 'A') == set()

    with pytest.raises(BackendError) as exc_info:
        wrong_key_backend.records(FORWARD_ZONE, timeout=5)
    assert server.reports['wrong secret, transfer'] in assert_no_secret(
        exc_info, server)


def test_unknown_key_name(server, tmp_path, rfc2136_conf):
    rfc2136_conf.set_override('key_name', 'nobody-key', 'dns_rfc2136')
    backend = Rfc2136Backend(rfc2136_conf)
    with pytest.raises(BackendError) as exc_info:
        backend.apply(FORWARD_ZONE, adds(WEB), timeout=5)
    assert server.reports['unknown key'] in assert_no_secret(exc_info,
                                                             server)
    assert server.query('web-1.cloud.internal.', 'A') == set()


def test_secret_not_base64(server, rfc2136_conf):
    rfc2136_conf.set_override('key_secret', 'not*base64*', 'dns_rfc2136')
    backend = Rfc2136Backend(rfc2136_conf)
    with pytest.raises(BackendError) as exc_info:
        backend.apply(FORWARD_ZONE, adds(WEB), timeout=5)
    assert 'not*base64*' not in str(exc_info.value)


def test_unsigned_update_refused(server, rfc2136_conf):
    rfc2136_conf.set_override('key_name', '', 'dns_rfc2136')
    backend = Rfc2136Backend(rfc2136_conf)
    with pytest.raises(BackendError) as exc_info:
        backend.apply(FORWARD_ZONE, adds(WEB), timeout=5)
    assert server.reports['unsigned'] in str(exc_info.value)
    assert server.query('web-1.cloud.internal.', 'A') == set()


def test_zone_not_served(backend, server):
    record = a('x.nosuch.internal.', '10.0.0.7', zone='nosuch.internal.')
    with pytest.raises(BackendError) as exc_info:
        backend.apply('nosuch.internal.', adds(record), timeout=5)
    text = assert_no_secret(exc_info, server)
    assert text.startswith('nosuch.internal.: ')
    assert any(code in text for code in ('NOTAUTH', 'NOTZONE', 'REFUSED'))

    with pytest.raises(BackendError) as exc_info:
        backend.records('nosuch.internal.', timeout=5)
    text = assert_no_secret(exc_info, server)
    assert any(code in text for code in ('NOTAUTH', 'NOTZONE', 'REFUSED'))


def test_record_outside_zone(backend, server):
    with pytest.raises(BackendError, match='NOTZONE'):
        backend.apply(V4_ZONE, adds(WEB), timeout=5)
    assert server.query('web-1.cloud.internal.', 'A') == set()


def test_zone_refusing_updates(backend, server):
    record = a('x.refused.internal.', '10.0.0.8', zone=REFUSED_ZONE)
    before = server.update_count()
    with pytest.raises(BackendError) as exc_info:
        backend.apply(REFUSED_ZONE, adds(record), timeout=5)
    assert str(exc_info.value).startswith('refused.internal.: ')
    assert server.reports['refused zone'] in str(exc_info.value)
    assert server.update_count() == before + 1
    assert server.query('x.refused.internal.', 'A') == set()


def test_bad_value_is_a_backend_error(backend, server):
    bad = Record(FORWARD_ZONE, 'bad.cloud.internal.', 'A', 'not-an-ip', TTL)
    before = server.update_count()
    with pytest.raises(BackendError, match='cannot build the update'):
        backend.apply(FORWARD_ZONE, adds(WEB, bad), timeout=5)
    assert server.update_count() == before
    with pytest.raises(BackendError, match='unknown change'):
        backend.apply(FORWARD_ZONE, [Change('replace', WEB)], timeout=5)


def test_server_stopped(backend, server):
    backend.apply(FORWARD_ZONE, adds(WEB), timeout=5)
    big = [a('host-%d.cloud.internal.' % i, '10.0.0.%d' % (i + 1))
           for i in range(100)]
    server.stop()
    try:
        with pytest.raises(BackendError) as exc_info:  # UDP: ICMP refused
            backend.apply(FORWARD_ZONE, adds(WEB6), timeout=0.5)
        text = assert_no_secret(exc_info, server)
        assert '127.0.0.1:%d' % server.port in text
        with pytest.raises(BackendError) as exc_info:  # TCP: refused
            backend.apply(FORWARD_ZONE, adds(*big), timeout=0.5)
        assert 'connection refused' in assert_no_secret(exc_info, server)
        with pytest.raises(BackendError):
            backend.records(FORWARD_ZONE, timeout=0.5)
        results = backend.check(list(ZONES))
        assert len(results) == 2 + len(ZONES)
        assert not any(r.ok for r in results)
        assert 'refused' in results[0].detail
    finally:
        server.start()
    # Zone data survives a restart (journal).
    assert server.query('web-1.cloud.internal.', 'A') == {'10.0.0.5'}
    assert backend.records(FORWARD_ZONE, timeout=5) == {WEB}


def test_records_returns_exactly_what_was_added(backend, server):
    assert backend.records(FORWARD_ZONE, timeout=5) == frozenset()
    web_long = a('web-1.cloud.internal.', '10.0.0.50', ttl=60)
    db = a('DB.cloud.internal.', '10.0.0.60', ttl=60)
    backend.apply(FORWARD_ZONE, adds(WEB6, WEB_FIP, web_long, db), timeout=5)
    backend.apply(V4_ZONE, adds(WEB_PTR), timeout=5)
    backend.apply(V6_ZONE, adds(WEB6_PTR), timeout=5)
    backend.apply(FLOATING_ZONE, adds(WEB_FIP_PTR), timeout=5)

    assert backend.records(FORWARD_ZONE, timeout=5) == {
        WEB6, WEB_FIP, web_long, db}
    assert db.name == 'db.cloud.internal.'
    assert backend.records(V4_ZONE, timeout=5) == {WEB_PTR}
    assert backend.records(V6_ZONE, timeout=5) == {WEB6_PTR}
    assert backend.records(FLOATING_ZONE, timeout=5) == {WEB_FIP_PTR}
    assert backend.records('cloud.internal', timeout=5) == {
        WEB6, WEB_FIP, web_long, db}


def test_check_all_ok(backend, server):
    before = server.update_count()
    results = backend.check(list(ZONES))
    assert [r.what for r in results] == [
        'rfc2136 server 127.0.0.1:%d reachable' % server.port,
        'rfc2136 TSIG key %s accepted' % server.key_name,
    ] + ['rfc2136 zone %s served' % zone for zone in ZONES]
    assert all(r.ok for r in results), results
    assert {r.plugin for r in results} == {'dns'}
    # Prerequisite-only updates: processed, but nothing changes.
    assert server.update_count() > before
    assert backend.records(FORWARD_ZONE, timeout=5) == frozenset()


def test_check_wrong_secret(wrong_key_backend, server):
    results = wrong_key_backend.check([FORWARD_ZONE])
    by_what = {r.what.split()[1]: r for r in results}
    assert by_what['server'].ok
    assert not by_what['TSIG'].ok
    assert server.reports['wrong secret'] in by_what['TSIG'].detail
    for result in results:
        assert server.key_secret not in result.detail
        assert WRONG_SECRET not in result.detail


def test_check_zone_problems(backend, server):
    results = backend.check([FORWARD_ZONE, 'nosuch.internal.',
                             REFUSED_ZONE])
    zones = {r.what.split()[2]: r for r in results if ' zone ' in r.what}
    assert zones[FORWARD_ZONE].ok
    assert not zones['nosuch.internal.'].ok
    assert 'REFUSED' in zones['nosuch.internal.'].detail
    assert not zones[REFUSED_ZONE].ok
    assert server.reports['refused zone'] in zones[REFUSED_ZONE].detail


def test_check_probes_every_zone_for_the_key(backend, server):
    """A first zone the server does not serve (Knot answers it unsigned)
    neither decides the key's verdict nor skips the other zones."""
    results = backend.check(['nosuch.internal.', FORWARD_ZONE])
    by_what = {r.what: r for r in results}
    key = by_what['rfc2136 TSIG key %s accepted' % server.key_name]
    assert key.ok, key
    assert 'for 1 of 1 zone(s)' in key.detail
    forward = by_what['rfc2136 zone %s served' % FORWARD_ZONE]
    assert forward.ok and 'updates accepted' in forward.detail
    assert not by_what['rfc2136 zone nosuch.internal. served'].ok
