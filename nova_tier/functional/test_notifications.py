"""Both adapters inside a real Nova 21, which sends versioned notifications
too: the plugins fed by the hooks during a boot from volume, an interface
attach and detach and a delete end in the same state as the plugins fed,
afterwards and into a fresh state directory, by the notifications Nova
sent meanwhile, through the endpoint of ``novahooks listen``.

The endpoint is called directly: the broker path (RabbitMQ, requeue,
restarts) is tested in tests/listen with Nova 34's samples; what only a
real Nova gives is its real payloads, here of Nova 21 (InstancePayload
1.8; the samples are 1.9).
"""

import contextlib
import os
import shutil
import sqlite3
import time
from typing import Any, Dict, List, Tuple
import uuid

from nova.tests import fixtures as nova_fixtures
from nova.tests.unit import fake_notifier

from nova_tier.functional.base import NovaHooksTestCase
from novahooks_core import config
from novahooks_core.containment import timing
from novahooks_core.hooks import dispatch
from novahooks_core.notify.endpoint import NotificationEndpoint
from novahooks_core.notify.options import OPTS
from novahooks_core.state import db
from novahooks_core.state.journal import Journal
from novahooks_dns import service as dns_service
from novahooks_netinfo import service as netinfo_service
from novahooks_storage import service as storage_service

SERVICES = (dns_service, netinfo_service, storage_service)


class NotificationParityTest(NovaHooksTestCase):
    plugins = 'audit,recorder,dns,storage,netinfo'

    def setUp(self) -> None:
        for service in SERVICES:
            service.reset()
            self.addCleanup(service.reset)
        db.reset()
        self.addCleanup(db.reset)
        super().setUp()
        self.useFixture(nova_fixtures.CinderFixture(self))
        self.flags(notification_format='versioned',
                   bdms_in_notifications=True,
                   notify_on_state_change='vm_and_task_state',
                   group='notifications')
        fake_notifier.reset()

    def rows(self, state: str, database: str, query: str
             ) -> List[Tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(
                os.path.join(state, database))) as conn:
            return list(conn.execute(query))

    def hosts(self, state: str) -> List[str]:
        path = os.path.join(state, 'dns.hosts')
        if not os.path.exists(path):
            return []
        with open(path) as stream:
            return sorted(line.strip() for line in stream
                          if line.strip() and not line.startswith('#'))

    def outcome(self, state: str) -> Dict[str, Any]:
        """What the plugins recorded, minus what notifications lack (the
        attachment id and the database ids)."""
        return {
            'netinfo': self.rows(state, 'netinfo.sqlite',
                                 'select uuid, kind, vif_id, anomaly '
                                 'from netinfo_events order by id'),
            'volumes': self.rows(state, 'storage.sqlite',
                                 'select volume_id, instance_uuid, fate, '
                                 'delete_on_termination from storage_volumes'),
            'instances': self.rows(state, 'storage.sqlite',
                                   'select uuid, state, host '
                                   'from storage_instances'),
            'hosts': self.hosts(state),
        }

    def wait_for_netinfo(self, count: int) -> None:
        deadline = time.monotonic() + 20
        while len(self.rows(self.state, 'netinfo.sqlite',
                            'select 1 from netinfo_events')) < count:
            if time.monotonic() > deadline:
                self.fail('netinfo events: %s' % self.rows(
                    self.state, 'netinfo.sqlite',
                    'select * from netinfo_events'))
            time.sleep(0.05)

    def test_hooks_and_notifications_give_the_same_state(self) -> None:
        volume = nova_fixtures.CinderFixture.IMAGE_BACKED_VOL
        server = self.boot(imageRef='', block_device_mapping_v2=[{
            'boot_index': 0, 'uuid': volume, 'source_type': 'volume',
            'destination_type': 'volume', 'delete_on_termination': False}])
        self.wait_for_event('build_instance:post')
        built_hosts = self.hosts(self.state)
        self.assertEqual(1, len(built_hosts), built_hosts)
        booted = {p['port_id']
                  for p in self.api.get_port_interfaces(server['id'])}
        self.api.attach_interface(server['id'], {'interfaceAttachment': {
            'net_id': nova_fixtures.NeutronFixture.network_1['id']}})
        self.wait_for_netinfo(2)
        (attached,) = {p['port_id'] for p in self.api.get_port_interfaces(
            server['id'])} - booted
        self.api.detach_interface(server['id'], attached)
        self.wait_for_netinfo(3)
        self._delete_server(server)
        self.wait_for_event('delete_instance:post')
        fake_notifier.wait_for_versioned_notifications('instance.delete.end')
        by_hooks = self.outcome(self.state)
        self.assertEqual(
            [('vif_added', 0), ('vif_added', 0), ('vif_removed', 0),
             ('vif_removed', 0)],
            [(kind, anomaly) for _, kind, _, anomaly in by_hooks['netinfo']])
        self.assertEqual([(volume, server['id'], 'retained', 0)],
                         by_hooks['volumes'])

        sent = list(fake_notifier.VERSIONED_NOTIFICATIONS)
        kinds = {n['event_type'] for n in sent}
        for expected in ('instance.create.end', 'instance.update',
                         'instance.interface_attach.end',
                         'instance.interface_detach.end',
                         'instance.shutdown.end', 'instance.delete.end'):
            self.assertIn(expected, kinds)
        # The listener's plugins, on a fresh state: what only the
        # notifications tell them.
        fed = os.path.join(self.state, 'listener')
        os.makedirs(fed)
        self.write_config(state_dir=fed)
        for service in SERVICES:
            service.reset()
        db.reset()
        dispatch.reset()
        timing.reset()
        endpoint = NotificationEndpoint(
            config.register_plugin_opts('listen', OPTS),
            Journal(os.path.join(fed, 'listen-failed.jsonl')))
        created_hosts = None
        for message in sent:
            endpoint.info({}, message['publisher_id'], message['event_type'],
                          message['payload'],
                          {'message_id': str(uuid.uuid4())})
            if message['event_type'] == 'instance.create.end':
                created_hosts = self.hosts(fed)
        self.assertEqual(built_hosts, created_hosts)
        self.assertEqual({'failed': 0}, {
            'failed': endpoint.stats.snapshot().get('failed', 0)})
        self.assertEqual(by_hooks, self.outcome(fed))
        self.assertEqual(0, sum(s.errors + s.bad_input
                                for s in timing.snapshot().values()))
        self.assertNoSecrets()
        shutil.rmtree(fed)


class UpgradePathTest(NovaHooksTestCase):
    """Nova 21's hooks built the state (a floating IP, real network ids);
    then the same instance's notifications arrive, as after an upgrade to
    Nova 22 with ``novahooks listen``: what they cannot carry is kept."""

    plugins = 'audit,recorder,dns,netinfo'
    floating = '172.24.4.10'

    def setUp(self) -> None:
        for service in SERVICES:
            service.reset()
            self.addCleanup(service.reset)
        db.reset()
        self.addCleanup(db.reset)
        super().setUp()
        self.flags(notification_format='versioned',
                   notify_on_state_change='vm_and_task_state',
                   group='notifications')
        fake_notifier.reset()

        def floating_ips(retrieve_all: bool = True, **params: Any
                         ) -> Dict[str, Any]:
            """Neutron associates our floating IP with every fixed IPv4."""
            fixed = str(params.get('fixed_ip_address') or '')
            found = [{'floating_ip_address': self.floating,
                      'fixed_ip_address': fixed,
                      'port_id': params.get('port_id')}] if (
                          '.' in fixed) else []
            return {'floatingips': found}
        self.neutron.list_floatingips = floating_ips

    def write_config(self, extra: str = '', **defaults: Any) -> None:
        super().write_config(extra='[dns]\nfloating_template = '
                             '{hostname}-public\n' + extra, **defaults)

    def hosts(self) -> List[str]:
        path = os.path.join(self.state, 'dns.hosts')
        with open(path) as stream:
            return sorted(line.strip() for line in stream
                          if line.strip() and not line.startswith('#'))

    def netinfo(self, query: str) -> List[Tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(
                os.path.join(self.state, 'netinfo.sqlite'))) as conn:
            return list(conn.execute(query))

    def test_notifications_keep_what_only_the_hooks_told(self) -> None:
        server = self.boot(name='upgraded')
        self.wait_for_event('build_instance:post')
        fake_notifier.wait_for_versioned_notifications('instance.create.end')
        by_hooks = self.hosts()
        self.assertIn('%s upgraded-public.cloud.internal' % self.floating,
                      by_hooks)
        history = self.netinfo('select kind, vif_id, detail from '
                               'netinfo_events order by id')
        self.assertEqual(['vif_added', 'floating_ip_associated'],
                         [kind for kind, _, _ in history])
        # Nova is upgraded: what the listener gets from now on, here the
        # notifications of a pause and an unpause.
        booted = len(fake_notifier.VERSIONED_NOTIFICATIONS)
        self.api.post_server_action(server['id'], {'pause': None})
        self._wait_for_state_change(server, 'PAUSED')
        self.api.post_server_action(server['id'], {'unpause': None})
        self._wait_for_state_change(server, 'ACTIVE')
        fake_notifier.wait_for_versioned_notifications('instance.unpause.end')
        sent = list(fake_notifier.VERSIONED_NOTIFICATIONS)[booted:]
        updates = [n for n in sent if n['event_type'] == 'instance.update']
        self.assertTrue(updates)
        self.assertTrue(all(n['payload']['nova_object.data']['ip_addresses']
                            for n in updates))  # fixed IPs, no floating
        # The listener, on the same state: fresh processes' services.
        for service in SERVICES:
            service.reset()
        db.reset()
        dispatch.reset()
        timing.reset()
        endpoint = NotificationEndpoint(
            config.register_plugin_opts('listen', OPTS),
            Journal(os.path.join(self.state, 'listen-failed.jsonl')))
        for message in sent:
            endpoint.info({}, message['publisher_id'], message['event_type'],
                          message['payload'],
                          {'message_id': str(uuid.uuid4())})
        self.assertEqual(by_hooks, self.hosts())  # the floating record too
        self.assertEqual(history, self.netinfo(
            'select kind, vif_id, detail from netinfo_events order by id'))
        self.assertEqual(0, endpoint.stats.snapshot().get('failed', 0))
        self.assertEqual(0, sum(s.errors + s.bad_input
                                for s in timing.snapshot().values()))
        self._delete_server(server)
        self.wait_for_event('delete_instance:post')
