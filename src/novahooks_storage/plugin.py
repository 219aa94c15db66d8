"""The storage plugin's descriptor: options and ``novahooks check``."""

from typing import Any, List, Optional, Tuple

from oslo_config import cfg

from novahooks_core import config
from novahooks_core.plugin import CheckResult, Plugin
from novahooks_storage import ledger
from novahooks_storage import service as storage_service


class StoragePlugin(Plugin):
    name = 'storage'
    options = storage_service.OPTS

    def check(self, conf: cfg.ConfigOpts) -> List[CheckResult]:
        try:
            storage = storage_service.service()
            storage.ensure_schema()
            with storage.engine.begin() as conn:
                conn.execute(ledger.instances.select()
                             .limit(1)).fetchall()
        except Exception as exc:
            return [CheckResult('storage', 'ledger database', False,
                                config.describe(exc))]
        spooled = storage.spooled()
        return [CheckResult('storage', 'ledger database', True,
                            str(storage.engine.url.render_as_string(
                                hide_password=True)
                                if hasattr(storage.engine.url,
                                           'render_as_string')
                                else repr(storage.engine.url))),
                CheckResult('storage', 'spool empty', spooled == 0,
                            '%d record(s) waiting' % spooled)]

    def gauges(self) -> List[Any]:
        """The spool, and the volumes retained after their instance."""
        from novahooks_core.containment.metrics import Gauge
        storage = storage_service.service()
        storage.ensure_schema()
        spooled = storage.replay_spool()
        with storage.engine.begin() as conn:
            retained = len(ledger.retained(conn))
        return [
            Gauge('novahooks_storage_spool_depth', 'Ledger operations kept '
                  'while the database was unavailable.', spooled),
            Gauge('novahooks_storage_retained_volumes', 'Volumes kept after '
                  'their instance was deleted.', retained)]

    def prune(self, before: Any) -> List[Tuple[str, int]]:
        """Instances deleted before ``before`` (not those with a retained
        volume), with their mappings and volumes."""
        storage = storage_service.service()
        storage.ensure_schema()
        storage.replay_spool()
        with storage.engine.begin() as conn:
            return sorted(ledger.prune(conn, before).items())

    def schemas(self) -> List[Any]:
        return [storage_service.service().schema]

    @classmethod
    def list_opts(cls) -> List[Tuple[Optional[str], List[cfg.Opt]]]:
        return [('storage', list(storage_service.OPTS))]
