"""The netinfo plugin's per-process service: an in-memory fingerprint per
instance (an unchanged refresh ends there), and the history database."""

import json
import logging as logging_std
from logging import handlers as log_handlers
import os
from typing import Dict, Optional

from oslo_config import cfg
from oslo_log import log as logging

from novahooks_core import config, db, models
from novahooks_core.models import Instance, NetworkInfo
from novahooks_core.plugin import ProcessLocal
from novahooks_netinfo import changes, store

LOG = logging.getLogger(__name__)

MIGRATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          'migrations')

OPTS = [
    cfg.StrOpt('database_url', default='', secret=True,
               help='SQLAlchemy URL of the history; empty: SQLite at '
                    '<state_dir>/netinfo.sqlite.'),
    cfg.StrOpt('jsonl_path', default='',
               help='Also write every change and anomaly as one JSON object '
                    'per line here (for log shippers); reopened when '
                    'logrotate moves it. Empty: off.'),
]


def _json(network: NetworkInfo) -> str:
    return json.dumps(models.to_primitive(network), sort_keys=True)


class NetinfoService:
    """Shared by the netinfo hooks of a process."""

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.engine = db.engine('netinfo', conf.netinfo.database_url or None)
        db.upgrade(self.engine, MIGRATIONS, 'netinfo_alembic_version')
        self._known: Dict[str, str] = {}
        self.sink: Optional[logging_std.Logger] = None
        if conf.netinfo.jsonl_path:
            # WatchedFileHandler reopens the file when logrotate moves it:
            # safe with several processes appending whole lines.
            handler = log_handlers.WatchedFileHandler(
                conf.netinfo.jsonl_path)
            handler.setFormatter(logging_std.Formatter('%(message)s'))
            self.sink = logging_std.getLogger('novahooks.netinfo.jsonl')
            self.sink.handlers = [handler]
            self.sink.propagate = False
            self.sink.setLevel(logging_std.INFO)

    def observe(self, instance: Instance,
                network: Optional[NetworkInfo]) -> str:
        """Record what changed in ``instance``'s cache since last seen."""
        uuid = instance.uuid
        if not uuid or network is None:
            return 'network info unknown'
        digest = changes.fingerprint(network)
        if self._known.get(uuid) == digest:
            return 'unchanged'
        with self.engine.begin() as conn:
            row = store.state(conn, uuid)
            if row is not None and row.fingerprint == digest:
                self._known[uuid] = digest
                return 'unchanged'
            old = (_load(row.network_json) if row is not None else None)
            found = changes.diff(old, network)
            odd = changes.anomalies(instance, old, network)
            pairs = sorted({(vif.network_id or '', ip.address)
                            for vif in network.vifs for ip in vif.fixed_ips})
            for other in store.replace_addresses(conn, uuid, pairs):
                odd.append(changes.Change('duplicate_fixed_ip', None,
                                          'also held by instance %s' % other))
            emptied = any(a.kind == 'cache_emptied' for a in odd)
            if emptied and row is not None and row.emptied_alerted:
                odd = [a for a in odd if a.kind != 'cache_emptied']
            stamp = store.now()
            rows = ([dict(uuid=uuid, at=stamp, kind=c.kind, anomaly=False,
                          vif_id=c.vif_id, detail=c.detail[:500])
                     for c in found]
                    + [dict(uuid=uuid, at=stamp, kind=a.kind, anomaly=True,
                            vif_id=a.vif_id, detail=a.detail[:500])
                       for a in odd])
            if rows:
                conn.execute(store.events.insert(), rows)
            values = dict(
                fingerprint=digest, network_json=_json(network),
                emptied_alerted=emptied or bool(
                    row is not None and row.emptied_alerted and not
                    len(network)),
                updated_at=stamp)
            if len(network):
                values['last_good_json'] = values['network_json']
            if row is None:
                conn.execute(store.states.insert().values(uuid=uuid,
                                                          **values))
            else:
                conn.execute(store.states.update().where(
                    store.states.c.uuid == uuid).values(**values))
        self._known[uuid] = digest
        if self.sink is not None:
            for item, is_anomaly in ([(c, False) for c in found]
                                     + [(a, True) for a in odd]):
                self.sink.info(json.dumps({
                    'at': stamp.isoformat() + 'Z', 'instance': uuid,
                    'kind': item.kind, 'anomaly': is_anomaly,
                    'vif': item.vif_id, 'detail': item.detail},
                    sort_keys=True))
        for change in found:
            LOG.info('novahooks netinfo: %s %s %s: %s', uuid, change.kind,
                     change.vif_id or '', change.detail)
        for anomaly in odd:
            LOG.warning('novahooks netinfo: ANOMALY %s on instance %s: %s',
                        anomaly.kind, uuid, anomaly.detail)
        return '%d change(s), %d anomal%s' % (
            len(found), len(odd), 'y' if len(odd) == 1 else 'ies')


def _load(text: str) -> NetworkInfo:
    """A stored network info back as a model."""
    data = json.loads(text)
    return NetworkInfo(vifs=tuple(
        models.Vif(**dict(v, subnets=tuple(
            models.Subnet(**dict(s, dns=tuple(s['dns']), ips=tuple(
                models.IpAddress(**dict(ip, floating_ips=tuple(
                    ip['floating_ips']))) for ip in s['ips'])))
            for s in v['subnets'])))
        for v in data['vifs']))


_service = ProcessLocal(
    lambda: NetinfoService(config.register_plugin_opts('netinfo', OPTS)))

#: The process's service for the current configuration.
service = _service.get
#: Forget the service (tests).
reset = _service.reset


__all__ = ['NetinfoService', 'OPTS', 'reset', 'service']
