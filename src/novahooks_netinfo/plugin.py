"""The netinfo plugin's descriptor: options and ``novahooks check``."""

import datetime
from typing import Any, List, Optional, Tuple

from oslo_config import cfg
from oslo_utils import timeutils

from novahooks_core import config
from novahooks_core.plugin import CheckResult, Plugin
from novahooks_netinfo import service as netinfo_service


class NetinfoPlugin(Plugin):
    name = 'netinfo'
    options = netinfo_service.OPTS

    def check(self, conf: cfg.ConfigOpts) -> List[CheckResult]:
        try:
            netinfo = netinfo_service.service()
            netinfo.schema.ensure()
            with netinfo.engine.begin() as conn:
                conn.execute(netinfo_service.store.states.select().limit(1)
                             ).fetchall()
        except Exception as exc:
            return [CheckResult('netinfo', 'history database', False,
                                config.describe(exc))]
        return [CheckResult('netinfo', 'history database', True)]

    def gauges(self) -> List[Any]:
        """Anomalies recorded in the last 24 hours."""
        from novahooks_core.containment.metrics import Gauge
        netinfo = netinfo_service.service()
        netinfo.schema.ensure()
        since = timeutils.utcnow() - datetime.timedelta(hours=24)
        with netinfo.engine.begin() as conn:
            found = len(netinfo_service.store.anomalies(conn, since))
        return [Gauge('novahooks_netinfo_anomalies_24h', 'Network-info '
                      'anomalies recorded in the last 24 hours.', found)]

    def scratch(self, conf: cfg.ConfigOpts, directory: str) -> List[str]:
        """No JSON-lines copy of the history outside ``directory``."""
        super().scratch(conf, directory)
        conf.set_override('jsonl_path', '', group='netinfo')
        return []

    def prune(self, before: Any) -> List[Tuple[str, int]]:
        """History events older than ``before``; instances deallocated
        before it."""
        netinfo = netinfo_service.service()
        netinfo.schema.ensure()
        with netinfo.engine.begin() as conn:
            return sorted(netinfo_service.store.prune(conn, before).items())

    def schemas(self) -> List[Any]:
        return [netinfo_service.service().schema]

    @classmethod
    def list_opts(cls) -> List[Tuple[Optional[str], List[cfg.Opt]]]:
        return [('netinfo', list(netinfo_service.OPTS))]
