"""The netinfo plugin inside Nova 21: a boot and a delete give exactly a
VIF added and a VIF removed, and no anomaly (the deallocation during a
delete empties the cache of an instance that is going away)."""

import contextlib
import os
import sqlite3
from typing import Any, List, Tuple

from nova_tier.functional.base import NovaHooksTestCase
from novahooks_core import db, timing
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
                'select kind, anomaly, detail from netinfo_events '
                'order by id'))

    def test_boot_and_delete_record_the_vif_and_no_anomaly(self) -> None:
        server = self.boot()
        self.wait_for_event('build_instance:post')
        self._delete_server(server)
        self.wait_for_event('delete_instance:post')
        history = self.history()
        self.assertEqual([('vif_added', 0), ('vif_removed', 0)],
                         [(kind, anomaly) for kind, anomaly, _ in history])
        self.assertEqual(0, sum(s.errors + s.bad_input
                                for s in timing.snapshot().values()))
        self.assertNoSecrets()
