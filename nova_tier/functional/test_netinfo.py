"""The netinfo plugin inside Nova 21: a boot and a delete give exactly a
VIF added and a VIF removed, and no anomaly (the deallocation during a
delete empties the cache of an instance that is going away); attaching
and detaching an interface through the API is recorded too."""

import contextlib
import os
import sqlite3
import time
from typing import Any, List, Tuple

from nova.tests import fixtures as nova_fixtures

from nova_tier.functional.base import NovaHooksTestCase
from novahooks_core.containment import timing
from novahooks_core.state import db
from novahooks_netinfo import service as netinfo_service


class NetinfoTest(NovaHooksTestCase):
    plugins = 'audit,recorder,netinfo'

    def setUp(self) -> None:
        netinfo_service.reset()
        db.reset()
        self.addCleanup(db.reset)
        self.addCleanup(netinfo_service.reset)
        super().setUp()

    def history(self) -> List[Tuple[Any, ...]]:
        path = os.path.join(self.state, 'netinfo.sqlite')
        with contextlib.closing(sqlite3.connect(path)) as conn:
            return list(conn.execute(
                'select kind, anomaly, detail, vif_id from netinfo_events '
                'order by id'))

    def wait_for_history(self, count: int, timeout: float = 20.0
                         ) -> List[Tuple[Any, ...]]:
        deadline = time.monotonic() + timeout
        while len(self.history()) < count:
            if time.monotonic() > deadline:
                self.fail('%d netinfo events, expected %d: %s' % (
                    len(self.history()), count, self.history()))
            time.sleep(0.05)
        return self.history()

    def test_boot_and_delete_record_the_vif_and_no_anomaly(self) -> None:
        server = self.boot()
        self.wait_for_event('build_instance:post')
        self._delete_server(server)
        self.wait_for_event('delete_instance:post')
        history = self.history()
        self.assertEqual([('vif_added', 0), ('vif_removed', 0)],
                         [(kind, anomaly) for kind, anomaly, _, _ in history])
        self.assertEqual(0, sum(s.errors + s.bad_input
                                for s in timing.snapshot().values()))
        self.assertNoSecrets()

    def test_attach_and_detach_an_interface(self) -> None:
        server = self.boot()
        self.wait_for_event('build_instance:post')
        booted = {p['port_id']
                  for p in self.api.get_port_interfaces(server['id'])}
        self.wait_for_history(1)
        self.api.attach_interface(server['id'], {'interfaceAttachment': {
            'net_id': nova_fixtures.NeutronFixture.network_1['id']}})
        ports = {p['port_id']
                 for p in self.api.get_port_interfaces(server['id'])}
        (attached,) = ports - booted
        history = self.wait_for_history(2)
        self.assertEqual(('vif_added', attached), (history[1][0],
                                                   history[1][3]))
        self.api.detach_interface(server['id'], attached)
        history = self.wait_for_history(3)
        self.assertEqual([('vif_added', 0), ('vif_added', 0),
                          ('vif_removed', 0)],
                         [(kind, anomaly) for kind, anomaly, _, _ in history])
        self.assertEqual(attached, history[2][3])
        self.assertNotIn(attached, {
            p['port_id'] for p in self.api.get_port_interfaces(server['id'])})
        self.assertEqual(0, sum(s.errors + s.bad_input
                                for s in timing.snapshot().values()))

    def test_last_good_is_what_nova_itself_reads(self) -> None:
        """``netinfo last-good`` prints Nova's own format: hydrated by
        Nova's ``NetworkInfo.hydrate``, it is the instance's info cache."""
        import io
        import json

        from nova import context as nova_context
        from nova import objects
        from nova.network import model as network_model

        from novahooks_core.cli.app import NovaHooksApp
        server = self.boot()
        self.wait_for_event('build_instance:post')
        self.wait_for_history(1)
        out, err = io.StringIO(), io.StringIO()
        code = NovaHooksApp(stdout=out, stderr=err).run(
            ['netinfo', 'last-good', server['id']])
        self.assertEqual(0, code, err.getvalue())
        restored = network_model.NetworkInfo.hydrate(json.loads(
            out.getvalue()))
        cache = objects.InstanceInfoCache.get_by_instance_uuid(
            nova_context.get_admin_context(), server['id']).network_info
        self.assertEqual([vif['id'] for vif in cache],
                         [vif['id'] for vif in restored])
        self.assertEqual([vif['address'] for vif in cache],
                         [vif['address'] for vif in restored])
        self.assertEqual([vif['network'] for vif in cache],
                         [vif['network'] for vif in restored])
        self.assertEqual([ip['address'] for ip in cache.fixed_ips()],
                         [ip['address'] for ip in restored.fixed_ips()])
