"""The netinfo plugin's per-process service: an in-memory fingerprint per
instance (an unchanged refresh ends there), and the history database."""

import contextlib
import dataclasses
import datetime
import json
import logging as logging_std
from logging import handlers as log_handlers
import os
from typing import (
    Any,
    Dict,
    Iterator,
    List,
    Optional,
    Sequence,
    Set,
    Tuple,
)

from oslo_config import cfg
from oslo_log import log as logging
from oslo_utils import timeutils
from sqlalchemy import exc as sa_exc

from novahooks_core import Handled, HookEvent, config, models, plugin
from novahooks_core.models import Instance, NetworkInfo
from novahooks_core.plugin import ProcessLocal
from novahooks_core.state import db
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

    def observe_event(self, event: HookEvent,
                      batch: Optional['Batch'] = None) -> Optional[str]:
        """Record what changed in the cache of ``event``'s instance (in the
        listener's ``batch``, if given). What was recorded is
        :class:`Handled`: :meth:`NovaHook.handle` then takes an equal call
        within ``recheck_seconds`` as unchanged, before anything is
        normalized; a deallocated cache (the instance is being deleted)
        is forgotten."""
        instance = event.instance
        if instance is None:
            return None
        outcome = self.observe(instance, event.network_info, batch)
        if (event.network_info is not None and not len(event.network_info)
                and not changes.is_live(instance)):
            return Handled(outcome, forget=True)  # deallocated: deleting
        if outcome != 'network info unknown':
            return Handled(outcome, unchanged_for=self.recheck_seconds)
        return outcome

    def observe(self, instance: Instance, network: Optional[NetworkInfo],
                batch: Optional['Batch'] = None) -> str:
        """Record what changed in ``instance``'s cache since last recorded
        (an unchanged cache is a read only)."""
        if not instance.uuid or network is None:
            return 'network info unknown'
        if batch is not None:
            return batch.record(instance, network)
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
            step = _step(uuid, row, given, instance)
            if step is None:
                return 'unchanged'
            step.odd += changes.duplicates(store.replace_addresses(
                conn, uuid, step.decision.addresses))
            rows = step.rows()
            if rows:
                conn.execute(store.events.insert(), rows)
            if row is None:
                conn.execute(store.states.insert().values(
                    uuid=uuid, **step.values))
            else:
                store.update_state(conn, uuid, **step.values)
        self._tell_committed(step)
        return step.summary

    def _tell_committed(self, step: '_Step') -> None:
        """Tell ``step`` once committed (in a unit of work: when it
        commits)."""
        if not db.after_commit(self.engine, object(), lambda: self._tell(
                step.uuid, step.stamp, step.found, step.odd)):
            self._tell(step.uuid, step.stamp, step.found, step.odd)

    @contextlib.contextmanager
    def batch(self, events: Sequence[HookEvent]) -> Iterator['Batch']:
        """The listener's batch: the history of its instances read at once,
        each event decided in memory, in order, and written at once
        (:class:`Batch`)."""
        self.schema.ensure()
        uuids = sorted({e.instance_uuid for e in events if e.instance_uuid})
        with db.begin(self.engine) as conn:
            found = Batch(self, conn, uuids)
            yield found
            found.write()

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


@dataclasses.dataclass
class _Step:
    """One observed cache decided: what to write and tell."""

    uuid: str
    decision: changes.Decision
    stamp: datetime.datetime
    found: List[changes.Change]
    odd: List[changes.Change]
    values: Dict[str, Any]

    @property
    def summary(self) -> str:
        return '%d change(s), %d anomal%s' % (
            len(self.found), len(self.odd),
            'y' if len(self.odd) == 1 else 'ies')

    def rows(self) -> List[Dict[str, Any]]:
        """The history's new rows: changes, then anomalies."""
        return ([dict(uuid=self.uuid, at=self.stamp, kind=c.kind,
                      anomaly=False, vif_id=c.vif_id, detail=c.detail[:500])
                 for c in self.found]
                + [dict(uuid=self.uuid, at=self.stamp, kind=a.kind,
                        anomaly=True, vif_id=a.vif_id, detail=a.detail[:500])
                   for a in self.odd])


def _step(uuid: str, row: Any, given: NetworkInfo,
          instance: Instance) -> Optional[_Step]:
    """What ``given`` changes after ``row`` (the instance's state), with
    the state's new values; ``None``: nothing."""
    decision = changes.decide(_previous(row), given, instance)
    if decision.unchanged:
        return None
    values: Dict[str, Any] = dict(
        fingerprint=decision.fingerprint,
        network_json=models.network_info_json(decision.network),
        emptied_alerted=decision.emptied_alerted,
        updated_at=timeutils.utcnow())
    if decision.last_good:
        values['last_good_json'] = values['network_json']
    return _Step(uuid, decision, values['updated_at'],
                 list(decision.changes), list(decision.anomalies), values)


class Batch:
    """A batch's instances' history, read with one statement per table
    (their states, their addresses, and the other instances holding any
    address the batch may hold); each event decided in memory, in order
    (:meth:`observe_event`); written with one statement per kind of
    write (:meth:`write`)."""

    def __init__(self, service: NetinfoService, conn: Any,
                 uuids: Sequence[str]) -> None:
        self.service = service
        self.conn = conn
        self.states: Dict[str, Optional[Dict[str, Any]]] = dict.fromkeys(
            uuids)
        self.existing = set()
        #: (network, address) -> the instances holding it now.
        self.holders: Dict[Tuple[str, str], Set[str]] = {}
        self.pairs: Dict[str, Sequence[Tuple[str, str]]] = {}
        for row in store.states_of(conn, uuids):
            self.states[row.uuid] = {c.name: getattr(row, c.name)
                                     for c in store.states.c}
            self.existing.add(row.uuid)
        for row in store.addresses_of(conn, uuids):
            self.holders.setdefault((row.network_id, row.address),
                                    set()).add(row.uuid)
        self._others: Optional[Dict[Tuple[str, str], Set[str]]] = None
        self.steps: List[_Step] = []
        self.changed: Dict[str, Sequence[Tuple[str, str]]] = {}

    def observe_event(self, event: HookEvent) -> Optional[str]:
        """:meth:`NetinfoService.observe_event` in the batch."""
        return self.service.observe_event(event, self)

    def record(self, instance: Instance, given: NetworkInfo) -> str:
        uuid = str(instance.uuid)
        row = _Row(self.states.get(uuid))
        step = _step(uuid, row if row.found else None, given, instance)
        if step is None:
            return 'unchanged'
        pairs = list(step.decision.addresses)
        others = self._outside(pairs)
        held = set()
        for pair in pairs:
            held |= {'%s (%s on %s)' % (other, pair[1], pair[0])
                     for other in self.holders.get(pair, set()) | others.get(
                         pair, set()) if other != uuid}
        step.odd += changes.duplicates(sorted(held))
        for pair in self.pairs.get(uuid, self._held_by(uuid)):
            self.holders.get(pair, set()).discard(uuid)
        for pair in pairs:
            self.holders.setdefault(pair, set()).add(uuid)
        self.pairs[uuid] = self.changed[uuid] = pairs
        state = dict(self.states.get(uuid) or {}, uuid=uuid, **step.values)
        state.setdefault('last_good_json', None)
        self.states[uuid] = state
        self.steps.append(step)
        return step.summary

    def _held_by(self, uuid: str) -> List[Tuple[str, str]]:
        return [pair for pair, who in self.holders.items() if uuid in who]

    def _outside(self, pairs: Sequence[Tuple[str, str]]
                 ) -> Dict[Tuple[str, str], Set[str]]:
        """The instances outside the batch holding these pairs (read
        once per batch... or once more for an address no event of the
        batch carried)."""
        if self._others is None:
            self._others = {}
        missing = [p for p in pairs if p not in self._others]
        if missing:
            for pair in missing:
                self._others[pair] = set()
            for row in store.holders_of(self.conn, missing, list(
                    self.states)):
                self._others[(row.network_id, row.address)].add(row.uuid)
        return self._others

    def write(self) -> None:
        """The batch's writes: new history rows, states inserted and
        updated, and the changed instances' addresses replaced."""
        if not self.steps:
            return
        rows = [row for step in self.steps for row in step.rows()]
        if rows:
            self.conn.execute(store.INSERT_EVENTS, rows)
        changed = {step.uuid for step in self.steps}
        columns = ('fingerprint', 'network_json', 'last_good_json',
                   'emptied_alerted', 'updated_at')
        states = {u: self.states[u] or {} for u in changed}
        new = [{c: states[u][c] for c in ('uuid',) + columns}
               for u in sorted(changed - self.existing)]
        old = [dict({'v_' + c: states[u][c] for c in columns}, k_uuid=u)
               for u in sorted(changed & self.existing)]
        if new:
            self.conn.execute(store.INSERT_STATES, new)
        if old:
            db.execute(self.conn, store.update_statement(columns), old)
        store.replace_addresses_of(self.conn, self.changed)
        for step in self.steps:
            self.service._tell_committed(step)
        self.existing |= changed
        self.steps = []
        self.changed = {}


class _Row:
    """A state as :func:`_previous` reads it, from a dict."""

    def __init__(self, values: Optional[Dict[str, Any]]) -> None:
        self.found = values is not None
        values = values or {}
        self.network_json = values.get('network_json')
        self.fingerprint = values.get('fingerprint')
        self.emptied_alerted = values.get('emptied_alerted')


def _previous(row: Any) -> Optional[changes.Previous]:
    """An instance's state row as :func:`changes.decide` reads it."""
    if row is None:
        return None
    network = models.network_info_from_json(row.network_json)
    if network is None:
        raise ValueError('network info of instance %s stored as null'
                         % getattr(row, 'uuid', '?'))
    return changes.Previous(network, row.fingerprint,
                            bool(row.emptied_alerted))


_service = ProcessLocal(
    lambda: NetinfoService(plugin.configured('netinfo')))

#: The process's service for the current configuration.
service = _service.get
#: Forget the service (tests).
reset = _service.reset


__all__ = ['NetinfoService', 'OPTS', 'reset', 'service']
