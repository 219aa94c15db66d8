"""Boot and delete servers through Nova 21's REST API with our hooks."""

import contextlib
import json
import os
import sqlite3
from typing import Any, List, Tuple

from nova.tests import fixtures as nova_fixtures
from nova.tests.functional.api import client

from nova_tier.functional.base import NovaHooksTestCase
from novahooks_core.containment import timing
from novahooks_core.lifecycle import canaries
from novahooks_core.state import db
from novahooks_storage import service as storage_service


class BootDeleteTest(NovaHooksTestCase):

    def test_boot_and_delete_one_server(self) -> None:
        server = self.boot()
        self.wait_for_event('build_instance:post')
        self._delete_server(server)
        self.wait_for_event('delete_instance:post')
        self.assertEqual([
            'create_instance:pre', 'build_instance:pre',
            'create_instance:post', 'instance_network_info:pre',
            'instance_network_info:post', 'build_instance:post',
            'delete_instance:pre', 'instance_network_info:pre',
            'instance_network_info:post', 'delete_instance:post'],
            self.seen())
        events = {e['hook'] + ':' + e['phase']: e for e in self.events()}
        create = events['create_instance:pre']
        self.assertTrue(create['create_request']['has_admin_password'])
        self.assertGreater(create['create_request']['user_data_bytes'], 0)
        self.assertIsNotNone(create['flavor']['name'])
        low, high = create['nova_releases']
        self.assertTrue(low <= 21 <= high)
        created = events['create_instance:post']['instances']
        self.assertEqual([server['id']], [i['uuid'] for i in created])
        self.assertIsNone(created[0]['host'])
        build = events['build_instance:post']
        self.assertEqual('active', build['result'])
        self.assertEqual([21, 21], build['nova_releases'])
        self.assertEqual(server['id'], build['instances'][0]['uuid'])
        self.assertEqual('compute', build['instances'][0]['host'])
        allocation, deallocation = [
            e['network_info'] for e in self.events()
            if e['hook'] == 'instance_network_info' and e['phase'] == 'post']
        network = allocation
        addresses = [ip['address'] for vif in network['vifs']
                     for subnet in vif['subnets'] for ip in subnet['ips']]
        self.assertIn('192.168.1.30', addresses)  # the Neutron fixture's
        self.assertEqual({'vifs': [], 'unknown': []}, deallocation)
        deleted = events['delete_instance:post']['instances'][0]
        self.assertEqual('deleted', deleted['vm_state'])
        stats = timing.snapshot()
        self.assertEqual(0, sum(s.errors + s.bad_input
                                for s in stats.values()))
        self.assertIn('novahooks audit: build of %s' % server['id'],
                      self.logs())
        self.assertNoSecrets()

    def test_boot_several_servers_at_once(self) -> None:
        body = self._build_server(networks='none')
        body.update(min_count=3, max_count=3)
        self.api.post_server({'server': body})
        servers = self.api.get_servers()
        self.assertEqual(3, len(servers))
        for server in servers:
            self._wait_for_state_change(server, 'ACTIVE')
        self.wait_for_event('build_instance:post', 3)
        created = [e for e in self.events()
                   if e['hook'] == 'create_instance' and e['phase'] == 'post']
        self.assertEqual(1, len(created))
        self.assertEqual(sorted(s['id'] for s in servers),
                         sorted(i['uuid'] for i in created[0]['instances']))
        self.assertEqual(3, created[0]['create_request']['max_count'])
        builds = [e['instances'][0]['uuid'] for e in self.events()
                  if e['hook'] == 'build_instance' and e['phase'] == 'post']
        self.assertEqual(sorted(s['id'] for s in servers), sorted(builds))
        for server in servers:
            self._delete_server(server)
        self.wait_for_event('delete_instance:post', 3)


class FaultIsolationTest(NovaHooksTestCase):

    def test_a_failing_plugin_never_fails_the_boot(self) -> None:
        failing = ['create_instance:pre', 'create_instance:post',
                   'build_instance:pre', 'build_instance:post',
                   'instance_network_info:post', 'delete_instance:pre',
                   'delete_instance:post']
        self.write_config(extra='[recorder]\nfail = %s\n'
                          % ','.join(failing))
        server = self.boot()
        self.wait_for_event('build_instance:post')
        self._delete_server(server)
        self.wait_for_event('delete_instance:post')
        stats = timing.snapshot()
        for where in failing:
            self.assertGreaterEqual(
                stats['recorder:%s' % where].errors, 1, where)
        self.assertIn('recorder told to fail at build_instance:post',
                      self.logs())
        self.assertIn('novahooks audit: deleted %s' % server['id'],
                      self.logs())  # the other plugin carried on
        self.assertNoSecrets()

    def test_an_operator_veto_refuses_the_boot(self) -> None:
        self.write_config(allow_veto='true',
                          extra='[recorder]\nveto = create_instance\n')
        body = self._build_server(networks='auto')
        error = self.assertRaises(
            client.OpenStackApiException, self.api.post_server,
            {'server': body})
        self.assertEqual(500, error.response.status_code)
        self.assertIn('recorder refuses create_instance', self.logs())
        self.assertEqual([], self.api.get_servers())
        self.assertEqual(['create_instance:pre'], self.seen())
        self.assertEqual(1, timing.snapshot()[
            'recorder:create_instance:pre'].vetoes)

    def test_a_veto_without_allow_veto_is_only_logged(self) -> None:
        self.write_config(extra='[recorder]\nveto = create_instance\n')
        server = self.boot()
        self.assertEqual('ACTIVE', server['status'])
        self.assertIn('would refuse the request, but allow_veto is off',
                      self.logs())


class _VolumeCase(NovaHooksTestCase):
    """Servers booted from a Cinder fixture's volume."""

    plugins = 'audit,recorder,storage'

    def setUp(self) -> None:
        storage_service.reset()
        db.reset()
        self.addCleanup(db.reset)
        self.addCleanup(storage_service.reset)
        super().setUp()
        self.useFixture(nova_fixtures.CinderFixture(self))

    def ledger(self, query: str) -> List[Tuple[Any, ...]]:
        path = os.path.join(self.state, 'storage.sqlite')
        with contextlib.closing(sqlite3.connect(path)) as conn:
            return list(conn.execute(query))

    def boot_from_volume(self, delete_on_termination: bool) -> Any:
        volume = nova_fixtures.CinderFixture.IMAGE_BACKED_VOL
        server = self.boot(imageRef='', block_device_mapping_v2=[{
            'boot_index': 0, 'uuid': volume, 'source_type': 'volume',
            'destination_type': 'volume',
            'delete_on_termination': delete_on_termination}])
        self.wait_for_event('build_instance:post')
        self._delete_server(server)
        self.wait_for_event('delete_instance:post')
        return server


class BootFromVolumeTest(_VolumeCase):

    def test_the_ledger_keeps_retained_volumes(self) -> None:
        volume = nova_fixtures.CinderFixture.IMAGE_BACKED_VOL
        server = self.boot_from_volume(delete_on_termination=False)
        self.assertEqual([(volume, server['id'], 'retained')], self.ledger(
            'select volume_id, instance_uuid, fate from storage_volumes'))
        self.assertEqual([('deleted',)], self.ledger(
            'select state from storage_instances'))
        phases = self.ledger('select phase, volume_id, attachment_id '
                             'from storage_mappings order by phase')
        self.assertEqual(['at_delete', 'built', 'requested'],
                         [p[0] for p in phases])
        self.assertEqual({volume}, {p[1] for p in phases})
        self.assertIsNotNone(phases[1][2])  # the real attachment id
        self.assertEqual(0, sum(s.errors + s.bad_input
                                for s in timing.snapshot().values()))
        self.assertNoSecrets()
        with open(os.path.join(self.state, 'storage.sqlite'), 'rb') as f:
            self.assertNotIn(b'target_lun', f.read())

    def test_the_ledger_sees_volumes_deleted_with_the_instance(
            self) -> None:
        self.boot_from_volume(delete_on_termination=True)
        self.assertEqual([('deleted_with_instance',)], self.ledger(
            'select fate from storage_volumes'))

    def test_volume_mappings_reach_the_hooks_without_connection_info(
            self) -> None:
        volume = nova_fixtures.CinderFixture.IMAGE_BACKED_VOL
        server = self.boot(imageRef='', block_device_mapping_v2=[{
            'boot_index': 0, 'uuid': volume, 'source_type': 'volume',
            'destination_type': 'volume', 'delete_on_termination': False}])
        self.wait_for_event('build_instance:post')
        self._delete_server(server)
        self.wait_for_event('delete_instance:post')
        events = {e['hook'] + ':' + e['phase']: e for e in self.events()}
        requested = events['create_instance:pre']['create_request']
        self.assertEqual([volume], [b['volume_id']
                                    for b in requested['block_devices']])
        for where in ('build_instance:pre', 'delete_instance:pre'):
            mappings = events[where]['block_devices']
            self.assertEqual([(volume, 'volume', False, 0)], [
                (b['volume_id'], b['source_type'],
                 b['delete_on_termination'], b['boot_index'])
                for b in mappings], where)
        attached = events['delete_instance:pre']['block_devices'][0]
        self.assertIsNotNone(attached['attachment_id'])
        self.assertNoSecrets()
        with open(os.path.join(self.state, 'events.jsonl')) as stream:
            state = stream.read()
        # The fixture's connection_info is {'data': {'foo': 'bar',
        # 'target_lun': '1'}}: none of it may be recorded.
        self.assertNotIn('target_lun', state)
        self.assertNotIn('connection_info', state)


class CarelessHandlerTest(_VolumeCase):
    """Cinder attaches an RBD volume whose ``connection_info`` carries a
    keyring and a user (the canaries); a careless handler fails at every
    hook quoting Nova's raw arguments and each real ``BlockDeviceMapping``
    (whose ``repr`` masks oslo's password keys, so the whole string no
    longer matches): none of the canaries reaches a log line or our
    state."""

    def setUp(self) -> None:
        super().setUp()
        import nova.volume.cinder
        fixture_update = nova.volume.cinder.API.attachment_update

        def attachment_update(*args: Any, **kwargs: Any) -> Any:
            found = fixture_update(*args, **kwargs)
            found['connection_info'] = json.loads(
                canaries.CONNECTION_INFO['rbd'])
            return found
        self.stub_out('nova.volume.cinder.API.attachment_update',
                      attachment_update)

    def test_no_volume_secret_reaches_a_log_line(self) -> None:
        leak = ['create_instance:pre', 'build_instance:pre',
                'build_instance:post', 'delete_instance:pre',
                'delete_instance:post']
        self.write_config(extra='[recorder]\nleak = %s\n' % ','.join(leak))
        self.boot_from_volume(delete_on_termination=False)
        logs = self.logs()
        self.assertIn('recorder told to leak at delete_instance:pre', logs)
        self.assertIn("connection_info='{", logs)  # a volume was shown
        ours = '\n'.join(line for line in logs.splitlines()
                         if 'recorder' in line or 'novahooks' in line)
        self.assertEqual({}, canaries.found_in(ours))
        self.assertNoSecrets()
