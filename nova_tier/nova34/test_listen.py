"""``novahooks listen`` fed by a real Nova 34 over a real RabbitMQ.

Through Nova's REST API: an image boot with ``networks='auto'``, an
interface attach and detach, and a delete; then a boot from volume (Cinder
fixture) and its delete. The installed ``novahooks listen`` runs in its
own process all along (DNS on the tier's BIND by RFC 2136, storage and
netinfo on SQLite). Real payloads differ from Nova's samples: ``shares``
null, a first ``instance.update`` with ``host`` and ``node`` null,
``block_devices`` ``[]`` on an image boot, ``key_name`` null.
"""

import collections
import json
from typing import Any, Dict

from nova.tests import fixtures as nova_fixtures

from nova_tier.nova34.base import Nova34NeutronFixture, Nova34TestCase
from novahooks_core.notify.mapping import EVENT_TYPES

#: The free port attached and detached (10.0.0.3).
PORT_1 = Nova34NeutronFixture.port_1['id']
#: The port an ``networks='auto'`` boot gets (10.0.0.30).
PORT_2 = Nova34NeutronFixture.port_2['id']
VOLUME = nova_fixtures.CinderFixture.IMAGE_BACKED_VOL


class ListenTest(Nova34TestCase):

    def a(self, host: str) -> set:
        return self.dns_query('%s.cloud.internal.' % host, 'A')

    def ptr(self, address: str) -> set:
        octets = address.split('.')
        return self.dns_query('%s.in-addr.arpa.' % '.'.join(
            reversed(octets)), 'PTR')

    def volumes(self) -> list:
        return self.rows('storage.sqlite',
                         'select volume_id, instance_uuid, fate, '
                         'delete_on_termination from storage_volumes '
                         'order by 1, 2')

    def instances(self) -> Dict[str, str]:
        return dict(self.rows('storage.sqlite',
                              'select uuid, state from storage_instances'))

    def dns(self, host: str, *addresses: str) -> Dict[str, set]:
        """The A records of ``host`` and the PTR records of
        ``addresses``."""
        found = {host: self.a(host)}
        found.update((address, self.ptr(address)) for address in addresses)
        return found

    def test_boots_interfaces_and_deletes_reach_the_plugins(self) -> None:
        web, vol = 'web-1.cloud.internal.', 'vol-1.cloud.internal.'
        # An image boot: A and PTR records appear.
        server = self._create_server(name='web-1', networks='auto')
        self.notifier.wait_for_versioned_notifications('instance.create.end')
        self.eventually(
            ({'web-1': {'10.0.0.30'}, '10.0.0.30': {web}},
             {server['id']: 'built'}, []),
            lambda: (self.dns('web-1', '10.0.0.30'), self.instances(),
                     self.volumes()),
            'web-1 built, its records')

        # A second interface, then without it again.
        self._attach_interface(server, PORT_1)
        self.eventually(
            {'web-1': {'10.0.0.30', '10.0.0.3'}, '10.0.0.3': {web}},
            lambda: self.dns('web-1', '10.0.0.3'), 'the attached address')
        self._detach_interface(server, PORT_1)
        self.eventually({'web-1': {'10.0.0.30'}, '10.0.0.3': set()},
                        lambda: self.dns('web-1', '10.0.0.3'),
                        'the detached address gone')

        # Its delete: the records go.
        self._delete_server(server)
        self.notifier.wait_for_versioned_notifications('instance.delete.end')
        self.eventually(
            ('deleted', {'web-1': set(), '10.0.0.30': set()}),
            lambda: (self.instances().get(server['id']),
                     self.dns('web-1', '10.0.0.30')),
            'web-1 deleted, its records gone')

        # A boot from volume, and its delete (the volume is kept).
        body: Dict[str, Any] = self._build_server(
            name='vol-1', image_uuid='', networks='auto')
        body['block_device_mapping_v2'] = [{
            'boot_index': 0, 'uuid': VOLUME, 'source_type': 'volume',
            'destination_type': 'volume', 'delete_on_termination': False}]
        volume_server = self._wait_for_state_change(
            self.api.post_server({'server': body}), 'ACTIVE')
        self.notifier.wait_for_versioned_notifications(
            'instance.create.end', 2)
        self.eventually(
            ('built', [(VOLUME, volume_server['id'], 'attached', 0)],
             {'vol-1': {'10.0.0.30'}, '10.0.0.30': {vol}}),
            lambda: (self.instances().get(volume_server['id']),
                     self.volumes(), self.dns('vol-1', '10.0.0.30')),
            'vol-1 built, its volume and records')
        self._delete_server(volume_server)
        self.notifier.wait_for_versioned_notifications(
            'instance.delete.end', 2)
        self.eventually(
            ('deleted', {'vol-1': set(), '10.0.0.30': set()}, True),
            lambda: (self.instances().get(volume_server['id']),
                     self.dns('vol-1', '10.0.0.30'), self.queue_drained()),
            'vol-1 deleted, its records gone, the queue drained')

        # Stopped: every mapped notification handled, none failed.
        self.assertEqual(0, self.listener.stop(), self.listener.log())
        stats = self.listener.stats()
        sent = self.sent()
        mapped = collections.Counter(
            n['event_type'] for n in sent if n['event_type'] in EVENT_TYPES)
        self.assertEqual(dict(mapped, handled=sum(mapped.values())), stats,
                         self.listener.log())
        self.assertEqual([], self.tee.errors.messages)
        for expected in ('instance.create.end', 'instance.update',
                         'instance.interface_attach.end',
                         'instance.interface_detach.end',
                         'instance.shutdown.end', 'instance.delete.end'):
            self.assertIn(expected, mapped)

        # The end state.
        self.assertEqual(set(), self.zone_records())
        self.assertEqual([(VOLUME, volume_server['id'], 'retained', 0)],
                         self.volumes())
        self.assertEqual({server['id']: 'deleted',
                          volume_server['id']: 'deleted'}, self.instances())
        history = self.rows('netinfo.sqlite',
                            'select uuid, kind, vif_id, anomaly '
                            'from netinfo_events order by id')
        self.assertEqual(
            [(server['id'], 'vif_added', PORT_2, 0),
             (server['id'], 'vif_added', PORT_1, 0),
             (server['id'], 'vif_removed', PORT_1, 0),
             (server['id'], 'vif_removed', PORT_2, 0)],
            [row for row in history if row[0] == server['id']])
        self.assertEqual(
            [('vif_added', 0), ('vif_removed', 0)],
            [(kind, anomaly) for uuid, kind, _, anomaly in history
             if uuid == volume_server['id']])
        code, failed = self.novahooks('listen', 'failed', '-f', 'json')
        self.assertEqual((0, []), (code, json.loads(failed)))
        code, pending = self.novahooks('dns', 'pending', '-f', 'json')
        self.assertEqual((0, []), (code, json.loads(pending)))
