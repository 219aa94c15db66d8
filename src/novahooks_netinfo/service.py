"""The netinfo plugin's per-process service: an in-memory fingerprint per
instance (an unchanged refresh ends there), and the history database."""

import datetime
import json
import logging as logging_std
from logging import handlers as log_handlers
import os
from typing import Any, List, Optional

from oslo_config import cfg
from oslo_log import log as logging
from oslo_utils import timeutils
from sqlalchemy import exc as sa_exc

from novahooks_core import HookEvent, config, db, models, plugin
from novahooks_core.models import Instance, NetworkInfo
from novahooks_core.plugin import ProcessLocal
from novahooks_core.seen import SEEN
from novahooks_netinfo import changes, store

LOG = logging.getLogger(__name__)

MIGRATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          'migrations')

OPTS = [
    config.database_url_opt('the history', 'netinfo'),
    cfg.StrOpt('jsonl_path', default='',
               help='Also write every change and anomaly as one JSON object '
                    'per line here (for log shippers); reopened when '
                    'logrotate moves it. Empty: off.'),
    cfg.IntOpt('recheck_seconds', default=300, min=0,
               help='A cache this process already saw is taken as '
                    'unchanged from memory for this long; then it is '
                    'checked against the history again (another process, '
                    'e.g. nova-api, may have recorded a change meanwhile). '
                    '0: always check the history.'),
]


def _json(network: NetworkInfo) -> str:
    return json.dumps(models.to_primitive(network), sort_keys=True)


class NetinfoService:
    """Shared by the netinfo hooks of a process."""

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.engine = db.engine('netinfo', conf.netinfo.database_url or None)
        self.schema = db.Schema(self.engine, MIGRATIONS,
                                'netinfo_alembic_version')
        self.recheck_seconds = conf.netinfo.recheck_seconds
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

    def observe_event(self, event: HookEvent) -> Optional[str]:
        """Record what changed in the cache of ``event``'s instance; an
        unchanged call is recognised from its key, in memory
        (:mod:`novahooks_core.seen`), before anything is normalized."""
        if SEEN.unchanged('netinfo', event):
            return 'unchanged'
        instance = event.instance
        if instance is None:
            return None
        outcome = self.observe(instance, event.network_info)
        if (event.network_info is not None and not len(event.network_info)
                and not changes.is_live(instance)):
            SEEN.forget('netinfo', instance.uuid)  # deallocated: deleting
        elif outcome != 'network info unknown':
            SEEN.remember('netinfo', event, self.recheck_seconds)
        return outcome

    def observe(self, instance: Instance,
                network: Optional[NetworkInfo]) -> str:
        """Record what changed in ``instance``'s cache since last recorded
        (an unchanged cache is a read only)."""
        if not instance.uuid or network is None:
            return 'network info unknown'
        for attempt in range(2):
            try:
                return self._record(instance, network)
            except sa_exc.IntegrityError:
                # Another process inserted the instance's first state at
                # the same moment: decide again against it.
                if attempt:
                    raise
        raise AssertionError('unreachable')

    def _record(self, instance: Instance, given: NetworkInfo) -> str:
        """Record the change ``given`` makes to the instance's history
        (decided by :func:`changes.decide`)."""
        uuid = str(instance.uuid)
        self.schema.ensure()
        with db.connect(self.engine) as conn:
            row = store.state(conn, uuid)
        if changes.merged(_previous(row), given)[2]:
            return 'unchanged'  # read only: no write lock for a heal
        with db.begin(self.engine) as conn:
            # Write first: the instance's row lock (and SQLite's write
            # lock) is held before reading, so two processes updating the
            # same instance decide one after the other.
            store.lock_state(conn, uuid)
            row = store.state(conn, uuid)
            decision = changes.decide(_previous(row), given, instance)
            if decision.unchanged:
                return 'unchanged'
            found = list(decision.changes)
            odd = list(decision.anomalies) + changes.duplicates(
                store.replace_addresses(conn, uuid, decision.addresses))
            stamp = timeutils.utcnow()
            rows = ([dict(uuid=uuid, at=stamp, kind=c.kind, anomaly=False,
                          vif_id=c.vif_id, detail=c.detail[:500])
                     for c in found]
                    + [dict(uuid=uuid, at=stamp, kind=a.kind, anomaly=True,
                            vif_id=a.vif_id, detail=a.detail[:500])
                       for a in odd])
            if rows:
                conn.execute(store.events.insert(), rows)
            values = dict(
                fingerprint=decision.fingerprint,
                network_json=_json(decision.network),
                emptied_alerted=decision.emptied_alerted, updated_at=stamp)
            if decision.last_good:
                values['last_good_json'] = values['network_json']
            if row is None:
                conn.execute(store.states.insert().values(uuid=uuid,
                                                          **values))
            else:
                store.update_state(conn, uuid, **values)
        # Told once committed (in a unit of work: when it commits).
        if not db.after_commit(self.engine, object(), lambda: self._tell(
                uuid, stamp, found, odd)):
            self._tell(uuid, stamp, found, odd)
        return '%d change(s), %d anomal%s' % (
            len(found), len(odd), 'y' if len(odd) == 1 else 'ies')

    def _tell(self, uuid: str, stamp: datetime.datetime,
              found: List[changes.Change],
              odd: List[changes.Change]) -> None:
        """Log the changes and anomalies recorded, and write them to the
        JSON-lines sink."""
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


def _previous(row: Any) -> Optional[changes.Previous]:
    """An instance's state row as :func:`changes.decide` reads it."""
    if row is None:
        return None
    return changes.Previous(
        models.network_info_from_primitive(json.loads(row.network_json)),
        row.fingerprint, bool(row.emptied_alerted))


_service = ProcessLocal(
    lambda: NetinfoService(plugin.configured('netinfo')))

#: The process's service for the current configuration.
service = _service.get
#: Forget the service (tests).
reset = _service.reset


__all__ = ['NetinfoService', 'OPTS', 'reset', 'service']
