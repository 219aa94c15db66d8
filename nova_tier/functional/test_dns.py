"""The DNS plugin inside Nova 21: records on a real BIND follow servers
booted and deleted through Nova's REST API."""

import json
import os
from typing import Any, Set

import dns.message
import dns.rdatatype

from nova_tier.functional.base import NovaHooksTestCase
from novahooks_core.containment import timing
from novahooks_core.state import db
from novahooks_dns import service as dns_service
from novahooks_dns.backends.rfc2136 import exchange


class DnsTest(NovaHooksTestCase):
    plugins = 'audit,recorder,dns'

    def setUp(self) -> None:
        with open(os.path.join(os.environ['NOVAHOOKS_TEST_BIND'],
                               'server.json')) as stream:
            self.bind = json.load(stream)
        dns_service.reset()
        db.reset()
        self.addCleanup(db.reset)
        self.addCleanup(dns_service.reset)
        super().setUp()

    def write_config(self, extra: str = '', **defaults: Any) -> None:
        bind = self.bind
        super().write_config(extra=(
            '[dns]\nbackend = rfc2136\nzone = cloud.internal.\n'
            'reverse_zones = %s\n'
            '[dns_rfc2136]\nserver = %s\nport = %d\nkey_name = %s\n'
            'key_secret = %s\nkey_algorithm = %s\n' % (
                ','.join(z for z in bind['zones'] if 'arpa' in z),
                bind['host'], bind['port'], bind['key_name'],
                bind['key_secret'], bind['algorithm'])) + extra, **defaults)

    def query(self, name: str, rtype: str) -> Set[str]:
        request = dns.message.make_query(name, rtype)
        # dns.query fails under eventlet with dnspython 1.15 (see exchange)
        response = exchange(request, self.bind['host'], self.bind['port'],
                            5.0, tcp=True)
        return {item.to_text() for rrset in response.answer
                for item in rrset if rrset.rdtype == dns.rdatatype.from_text(
                    rtype)}

    def test_a_server_gets_its_record_and_loses_it_on_delete(self) -> None:
        server = self.boot(name='dns-test-1')
        self.wait_for_event('build_instance:post')
        name = 'dns-test-1.cloud.internal.'
        self.assertEqual({'192.168.1.30'}, self.query(name, 'A'))
        runs = timing.snapshot()
        self.assertEqual(0, runs['dns:build_instance:post'].errors)
        self._delete_server(server)
        self.wait_for_event('delete_instance:post')
        self.assertEqual(set(), self.query(name, 'A'))
        self.assertEqual(0, sum(s.errors + s.bad_input
                                for s in timing.snapshot().values()))
        self.assertNoSecrets()
        self.assertNotIn(self.bind['key_secret'], self.logs())
