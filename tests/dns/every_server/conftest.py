"""The suites here run on every DNS server: BIND, Knot and PowerDNS."""

import pytest

from tests.dns.conftest import DnsServer


@pytest.fixture
def server(dns_server: DnsServer) -> DnsServer:
    """BIND, Knot and PowerDNS in turn."""
    return dns_server


@pytest.fixture
def rfc2136_server(server: DnsServer) -> DnsServer:
    """``rfc2136_conf`` points at ``server``."""
    return server
