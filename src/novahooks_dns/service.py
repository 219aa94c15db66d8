"""The DNS plugin's per-process service: settings, database, backend,
sender, and the decisions the hooks delegate to.
"""

import contextlib
import dataclasses
import functools
import os
from typing import (
    Any,
    Callable,
    Dict,
    FrozenSet,
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
from stevedore import driver

from novahooks_core import HookEvent, HookPoint, config, models, plugin
from novahooks_core.models import Instance, NetworkInfo
from novahooks_core.plugin import ProcessLocal
from novahooks_core.state import db
from novahooks_core.state.lru import LRU
from novahooks_core.state.spool import Spool
from novahooks_dns import decide, state
from novahooks_dns.backends import NAMESPACE, DnsBackend
from novahooks_dns.records import (
    Record,
    Settings,
    absolute,
    forward_name,
)
from novahooks_dns.sender import Sender, SendPolicy
from novahooks_dns.state import Key

LOG = logging.getLogger(__name__)

MIGRATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          'migrations')

OPTS = [
    cfg.StrOpt('backend', default='hostsfile',
               help='Where records go: hostsfile (embedded default) or '
                    'rfc2136 (dynamic updates to BIND, PowerDNS, Knot...).'),
    cfg.StrOpt('zone', default='cloud.internal.',
               help='Forward zone for A/AAAA records.'),
    cfg.ListOpt('reverse_zones', default=[],
                help='Reverse zones (in-addr.arpa / ip6.arpa) for PTR '
                     'records; addresses outside them get no PTR.'),
    cfg.IntOpt('ttl', default=300, min=1, help='TTL of every record.'),
    cfg.StrOpt('forward_template', default='{hostname}',
               help='Name of fixed-IP records, relative to the zone unless '
                    'it ends with a dot. Variables: hostname, display_name, '
                    'uuid, project_id, network_label, dashed_ip, octets '
                    '({octets[3]}).'),
    cfg.StrOpt('floating_template', default='',
               help='Name of floating-IP records; empty: floating IPs get '
                    'no records.'),
    cfg.ListOpt('networks', default=[],
                help='Network labels or IDs whose addresses get records; '
                     'empty: all.'),
    config.database_url_opt('the outbox and applied state', 'dns'),
    cfg.FloatOpt('send_budget_ms', default=200.0, min=0.0,
                 help='Longest a hook waits for the DNS server before '
                      'leaving the change to the background sender.'),
    cfg.FloatOpt('batch_send_budget_ms', default=100.0, min=0.0,
                 help='Longest the listener waits for the DNS server once '
                      'a batch of notifications committed (one UPDATE per '
                      'zone for the whole batch), before leaving the rest '
                      'to the background sender; a server that failed is '
                      'not waited for again until its retry is due. 0: '
                      'the background sender sends them at once, while '
                      'the listener goes on with the next batch (on SQLite '
                      'the two then take turns at the DNS database).'),
    cfg.FloatOpt('retry_initial_seconds', default=2.0, min=0.01,
                 help='First retry delay; doubles per failure.'),
    cfg.FloatOpt('retry_max_seconds', default=300.0, min=0.01,
                 help='Longest retry delay.'),
    cfg.IntOpt('batch_size', default=500, min=1,
               help='Changes per update message.'),
    cfg.FloatOpt('heal_recheck_seconds', default=600.0, min=0.0,
                 help='An unchanged network-info refresh is checked '
                      'against the database at most this often.'),
    cfg.BoolOpt('refuse_duplicate_names', default=False,
                help='Refuse a create whose name belongs to another live '
                     'instance (also needs [DEFAULT] allow_veto).'),
]


#: What a send in the listener's batch says (made once it commits).
SENT_AT_COMMIT = ' (sent when the batch commits)'

#: Deletes whose info cache ``pre`` keeps for ``post``: bounded, the
#: least recently used forgotten first.
FALLBACK_LIMIT = 10000


def _instance_op(instance: Instance) -> Dict[str, Any]:
    return {'uuid': instance.uuid, 'hostname': instance.hostname,
            'display_name': instance.display_name,
            'project_id': instance.project_id}


def _network(data: Any) -> Optional[NetworkInfo]:
    return (None if data is None
            else models.network_info_from_primitive(data))


class DnsService:
    """Shared by every DNS hook of a process."""

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf
        dns = conf.dns
        self.backend = load_backend(conf)
        # Records the backend cannot hold are not desired (no PTR in a
        # hosts file), so they are never reported missing.
        self.settings = Settings(
            zone=absolute(dns.zone),
            reverse_zones=tuple(absolute(z) for z in dns.reverse_zones)
            if 'PTR' in self.backend.record_types else (),
            ttl=dns.ttl, forward_template=dns.forward_template,
            floating_template=dns.floating_template,
            networks=tuple(dns.networks))
        self.engine = db.engine('dns', dns.database_url or None)
        self.schema = db.Schema(self.engine, MIGRATIONS,
                                'dns_alembic_version')
        self.spool = Spool('dns', os.path.join(
            config.state_dir(), 'dns-spool.jsonl'), self.engine,
            self._apply, self.ensure_schema)
        self.sender = Sender(self.engine, self.backend, SendPolicy(
            batch=dns.batch_size, timeout=self.backend_timeout(),
            retry_initial=dns.retry_initial_seconds,
            retry_max=dns.retry_max_seconds),
            (self.settings.zone,) + self.settings.reverse_zones,
            before=self.spool.replay_in_background)
        self.budget = dns.send_budget_ms / 1000.0
        self.batch_budget = dns.batch_send_budget_ms / 1000.0
        #: How long an equal call is taken as unchanged from memory.
        self.recheck = dns.heal_recheck_seconds
        #: Network info seen in delete pre, for delete post.
        self.fallback: LRU[str, Optional[NetworkInfo]] = LRU(FALLBACK_LIMIT)

    def close(self) -> None:
        """The service is replaced (a new configuration): stop its
        background sender."""
        self.sender.stop()

    @property
    def zones(self) -> Tuple[str, ...]:
        """The configured zones, forward first."""
        return (self.settings.zone,) + self.settings.reverse_zones

    def backend_timeout(self) -> float:
        group = getattr(self.conf, 'dns_' + self.conf.dns.backend, None)
        return float(getattr(group, 'timeout', 2.0) or 2.0)

    def ensure_schema(self) -> None:
        """The state database at the newest schema (checked once per
        process; see :class:`novahooks_core.state.db.Schema`)."""
        self.schema.ensure()

    def ready(self) -> int:
        """Schema migrated and spooled decisions replayed (before any read
        of the state); returns how many are still spooled."""
        self.ensure_schema()
        return self.spool.replay()[1]

    # -- decisions, each in one transaction under the instance's lock ----

    def _apply(self, conn: Any, op: Dict[str, Any]) -> Tuple[int, int, str]:
        """Carry out one operation (from a hook, or from the spool):
        (added, removed, note). Read the instance's state, decide
        (:func:`_step`), write what was decided; :class:`Batch` does the
        same for a listener's batch, in memory."""
        if op['op'] == 'remember':
            state.remember_instance(conn, op['uuid'], op.get('name'),
                                    op.get('project_id'))
            return 0, 0, ''
        operation = Operation.from_primitive(op)
        uuid = str(operation.instance.uuid)
        row = state.lock_instance(conn, uuid)
        have = state.effective(conn, uuid)
        step = _step(operation, row.network_json if row is not None
                     else None, row is not None, have, self.settings)
        if step.kept:
            self._tell_kept(uuid, len(have))
            return step.result
        state.release_records(conn, uuid, step.released)
        state.enqueue(conn, uuid, step.adds, ())
        if step.network_json is not None:
            state.keep_network(conn, uuid, step.network_json)
        if step.forgets:
            state.forget_instance(conn, uuid)
        return step.result

    @staticmethod
    def _tell_kept(uuid: str, count: int) -> None:
        LOG.warning('novahooks dns: network info of live instance %s is '
                    'empty; keeping its %d record(s) (run "novahooks dns '
                    'reconcile" if it really lost its addresses)', uuid,
                    count)

    def batching(self) -> bool:
        """Whether a listener's batch may be decided at once (:meth:`batch`):
        in a unit of work, with no operation waiting in the spool (then
        the one-at-a-time path spools each behind them, in order)."""
        return db.current_unit() is not None and \
            not self.spool.journal.exists()

    @contextlib.contextmanager
    def batch(self, events: Sequence[HookEvent]) -> Iterator['Batch']:
        """The listener's batch: the state of its instances read at once,
        each operation decided in memory, in order, and written at once,
        in one savepoint (:class:`Batch`); then what was decided is told,
        and the changes sent once the batch commits."""
        self.ensure_schema()
        with db.begin(self.engine) as conn:
            found = Batch(self, conn, uuids_of(events))
            yield found
            found.write()
        found.tell()

    def _write(self, op: Dict[str, Any]) -> Optional[Tuple[int, int, str]]:
        """Decide ``op`` now within ``[DEFAULT] write_budget_ms``, or keep
        it in the spool (``None``) for the background sender to replay."""
        applied, result = self.spool.write(op, config.write_budget())
        if not applied:
            self.sender.ensure_worker()
            return None
        return result

    def _decide(self, operation: 'Operation', batch: Optional['Batch']
                ) -> Optional[Tuple[int, int, str]]:
        """:meth:`_write` of ``operation``; in the listener's ``batch``,
        decided there, as it is (never serialized)."""
        if batch is not None:
            return batch.apply(operation)
        return self._write(operation.primitive())

    def sync(self, instance: Instance, network: Optional[NetworkInfo],
             deleting: bool = False, batch: Optional['Batch'] = None
             ) -> Tuple[str, bool]:
        """Make the instance's records match its network info: what was
        done, and whether it was decided (not spooled, not kept), so an
        equal call may be taken as unchanged (the hook returns a decided
        sync as :class:`~novahooks_core.Handled`).
        """
        uuid = instance.uuid
        if not uuid or network is None:
            return 'network info unknown: nothing to do', False
        result = self._decide(Operation.of('sync', instance, network,
                                           deleting), batch)
        if result is None:
            return 'database unavailable: spooled', False
        adds, removed, note = result
        if note:
            return note, False
        if not adds and not removed:
            return 'in sync', True
        return '%d added, %d removed%s' % (adds, removed,
                                           self.send(batch)), True

    def prepare_removal(self, instance: Instance) -> None:
        """Before a delete: keep its info cache, which deallocation empties
        before ``delete_instance`` post, in case no state is kept for the
        instance (lost, or applied by another host's database)."""
        assert instance.uuid
        self.fallback.put(instance.uuid, instance.network_info)

    def remove(self, instance: Instance, fallback: Optional[NetworkInfo],
               batch: Optional['Batch'] = None) -> str:
        """Remove every record of a deleted instance."""
        uuid = instance.uuid
        if not uuid:
            return 'no uuid: nothing to do'
        result = self._decide(Operation.of('remove', instance, fallback),
                              batch)
        if result is None:
            return 'database unavailable: spooled'
        removed = result[1]
        return '%d removed%s' % (removed, self.send(batch) if removed
                                 else '')

    def send(self, batch: Optional['Batch'] = None) -> str:
        """Send now within the budget; leave the rest to the worker. In a
        unit of work (the listener's batch), once it commits: the batch's
        changes to a zone then go in one UPDATE. In a :class:`Batch`, once
        it is written (:meth:`Batch.tell`)."""
        if batch is not None:
            batch.sends = True
            return SENT_AT_COMMIT
        if db.after_commit(self.engine, ('dns-send', id(self)),
                           lambda: self._send_now(self.batch_budget, True)):
            return SENT_AT_COMMIT
        return self._send_now(self.budget)

    def _send_now(self, budget: float, batch: bool = False) -> str:
        """Send within ``budget``; the rest goes to the background sender,
        at its next poll (in the listener's ``batch``: at once)."""
        if budget <= 0:
            self.sender.ensure_worker(now=batch)
            return ' (queued)'
        result = self.sender.flush(budget)
        if not result.done:
            self.sender.ensure_worker()
            return ' (pending: %s)' % (result.errors[-1] if result.errors
                                       else 'budget spent')
        return ''

    def owner_of(self, name: Optional[str]) -> Optional[str]:
        """The live instance holding the forward name ``name``."""
        if name is None:
            return None
        self.ensure_schema()
        with db.connect(self.engine) as conn:
            return state.owner_of_name(conn, name)

    def remember(self, instance: Instance,
                 batch: Optional['Batch'] = None) -> None:
        if not instance.uuid:
            return
        name = forward_name(instance, self.settings)
        if batch is not None:
            batch.remember(instance.uuid, name, instance.project_id)
        else:
            self._write({'op': 'remember', 'uuid': instance.uuid,
                         'name': name, 'project_id': instance.project_id})


@dataclasses.dataclass(frozen=True)
class Step:
    """One operation decided (:func:`_step`): the records it adds and
    releases, the network info to keep, whether the instance is deleted
    (``forgets``), or that its records are all kept."""

    adds: FrozenSet[Record] = frozenset()
    released: FrozenSet[Record] = frozenset()
    network_json: Optional[str] = None
    forgets: bool = False
    kept: bool = False

    @property
    def result(self) -> Tuple[int, int, str]:
        """(added, removed, note), as :meth:`DnsService._apply` returns."""
        if self.kept:
            return 0, 0, 'empty network info of a live instance: kept'
        return len(self.adds), len(self.released), ''


@dataclasses.dataclass(frozen=True)
class Operation:
    """A ``sync`` or ``remove`` of an instance as a hook asked it: for a
    sync, ``network`` is the network info given; for a remove, the info
    cache kept in case no state is kept for the instance (its fallback).
    The instance holds only what records are made of (uuid, names,
    project). Spooled as :meth:`primitive`; a listener's batch decides it
    as it is."""

    kind: str
    instance: Instance
    network: Optional[NetworkInfo]
    deleting: bool = False

    @classmethod
    def of(cls, kind: str, instance: Instance,
           network: Optional[NetworkInfo], deleting: bool = False
           ) -> 'Operation':
        return cls(kind, Instance(**_instance_op(instance)), network,
                   deleting)

    def primitive(self) -> Dict[str, Any]:
        """The operation as the spool keeps it (JSON-ready)."""
        op: Dict[str, Any] = {'op': self.kind, 'uuid': self.instance.uuid,
                              'instance': _instance_op(self.instance)}
        if self.kind == 'sync':
            op.update(network=models.to_primitive(self.network),
                      deleting=self.deleting)
        else:
            op['fallback'] = models.to_primitive(self.network)
        return op

    @classmethod
    def from_primitive(cls, op: Dict[str, Any]) -> 'Operation':
        """The operation :meth:`primitive` kept."""
        kind = op['op']
        instance = Instance(**op['instance'])
        if kind == 'sync':
            given = _network(op['network'])
            assert given is not None
            return cls(kind, instance, given, bool(op.get('deleting')))
        if kind == 'remove':
            return cls(kind, instance, _network(op.get('fallback')))
        raise ValueError('unknown DNS operation %r' % kind)


def _step(operation: Operation, known_json: Optional[str], tracked: bool,
          have: FrozenSet[Record], settings: Settings) -> Step:
    """What a ``sync`` or ``remove`` does, given the instance's state: the
    network info last kept, whether this database holds state for it
    (``tracked``) and the records it has (pure: see :mod:`.decide`)."""
    instance = operation.instance
    if operation.kind == 'sync':
        assert operation.network is not None
        plan = decide.plan_sync(instance, operation.network, known_json,
                                have, settings, operation.deleting)
        if plan.kept:
            return Step(kept=True)
        return Step(adds=plan.adds, released=plan.stale,
                    network_json=plan.network_json)
    if operation.kind == 'remove':
        return Step(released=decide.records_to_remove(
            instance, have, tracked, operation.network, settings),
            forgets=True)
    raise ValueError('unknown DNS operation %r' % operation.kind)


def uuids_of(events: Sequence[HookEvent]) -> List[str]:
    """The instances these events are about (those a create made: never
    raises, a create that cannot be read is left to its handler)."""
    found: Set[str] = set()
    for event in events:
        try:
            if event.hook is HookPoint.CREATE_INSTANCE:
                found.update(str(i.uuid) for i in event.instances if i.uuid)
            elif event.instance_uuid:
                found.add(str(event.instance_uuid))
        except Exception:  # the handler says what is wrong with it
            continue
    return sorted(found)


@dataclasses.dataclass
class _Queued:
    """What one operation of a batch queues for an instance: records
    released (those another instance of the batch held then:
    ``held_inside``) and added."""

    uuid: str
    released: FrozenSet[Record]
    adds: FrozenSet[Record]
    held_inside: Set[Key]


class Batch:
    """A listener batch's DNS state (:meth:`DnsService.batch`): its
    instances' rows (locked), pending changes and applied records, read
    with one statement per table; each operation decided in memory, in
    order (:meth:`apply`), exactly as :meth:`DnsService._apply` decides
    it one at a time; written with one statement per table
    (:meth:`write`)."""

    def __init__(self, service: DnsService, conn: Any,
                 uuids: Sequence[str]) -> None:
        self.service = service
        self.conn = conn
        #: Each instance's row as written at the end (``None``: none).
        self.rows: Dict[str, Optional[Dict[str, Any]]] = {}
        #: Those with a row in the database.
        self.existing: Set[str] = set()
        #: Those whose row changed.
        self.changed: Set[str] = set()
        #: What each instance has (:func:`state.effective`).
        self.have: Dict[str, FrozenSet[Record]] = {}
        #: The instances of the batch holding each record key now (as
        #: :func:`state.held_by_others` reads them).
        self.holders: Dict[Key, Set[str]] = {}
        self.queued: List[_Queued] = []
        #: Whether changes are to be sent (:meth:`DnsService.send`).
        self.sends = False
        #: What to tell once written.
        self.told: List[Callable[[], None]] = []
        self._load(uuids)

    def _load(self, uuids: Sequence[str]) -> None:
        """Read the state of these instances (those not read yet): pending
        changes first, so a change the sender confirms meanwhile is read
        once at least (it is idempotent in :func:`state.replay`)."""
        uuids = sorted({uuid for uuid in uuids if uuid not in self.rows})
        if not uuids:
            return
        conn = self.conn
        self.rows.update(dict.fromkeys(uuids))
        for row in state.lock_instances(conn, uuids):
            self.rows[row.uuid] = {c.name: getattr(row, c.name)
                                   for c in state.instances.c}
            self.existing.add(row.uuid)
        pending = state.pending_of(conn, uuids)
        applied = state.applied_of(conn, uuids)
        have: Dict[str, Set[Record]] = {uuid: set() for uuid in uuids}
        changes: Dict[str, List[Any]] = {uuid: [] for uuid in uuids}
        for row in applied:
            have[row.instance_uuid].add(state.record_of(row))
        for row in pending:
            changes[row.instance_uuid].append(row)
        for uuid in uuids:
            self.have[uuid] = state.replay(have[uuid], changes[uuid])
        held = {(uuid, key) for (uuid, key), holds in state.holding(
            applied, pending).items() if holds}
        for uuid, key in sorted(held):
            self.holders.setdefault(key, set()).add(uuid)
        # Read late (an instance no event named at first): what it held
        # it held all along, for the releases decided before.
        for queued in self.queued:
            queued.held_inside.update(
                key for key in map(state.key_of, queued.released)
                if any((uuid, key) in held for uuid in uuids
                       if uuid != queued.uuid))

    def _row(self, uuid: str) -> Dict[str, Any]:
        """The instance's row, made if it has none
        (:func:`state.lock_instance`)."""
        row = self.rows.get(uuid)
        if row is None:
            row = self.rows[uuid] = dict(
                uuid=uuid, name=None, project_id=None,
                created_at=timeutils.utcnow(), deleted_at=None,
                network_json=None)
        return row

    def remember(self, uuid: str, name: Optional[str],
                 project_id: Optional[str]) -> None:
        """:func:`state.remember_instance` in memory."""
        self._load([uuid])
        self._row(uuid).update(
            name=name, project_id=project_id,
            created_at=timeutils.utcnow(), deleted_at=None)
        self.changed.add(uuid)

    def apply(self, operation: Operation) -> Tuple[int, int, str]:
        """:meth:`DnsService._apply` in memory."""
        uuid = str(operation.instance.uuid)
        self._load([uuid])
        found = self.rows[uuid]
        have = self.have[uuid]
        step = _step(operation, found['network_json'] if found is not None
                     else None, found is not None, have,
                     self.service.settings)
        row = self._row(uuid)
        if step.kept:
            self.told.append(functools.partial(
                self.service._tell_kept, uuid, len(have)))
            return step.result
        if step.released or step.adds:
            self.queued.append(_Queued(
                uuid, step.released, step.adds,
                {key for key in map(state.key_of, step.released)
                 if self.holders.get(key, set()) - {uuid}}))
            for record in step.released:
                self.holders.get(state.key_of(record), set()).discard(uuid)
            for record in step.adds:
                self.holders.setdefault(state.key_of(record), set()).add(
                    uuid)
            self.have[uuid] = (have - step.released) | step.adds
        if step.network_json is not None:
            row['network_json'] = step.network_json
            self.changed.add(uuid)
        if step.forgets:
            row['deleted_at'] = timeutils.utcnow()
            self.changed.add(uuid)
        return step.result

    def write(self) -> None:
        """The batch's writes: the changes queued, in order (a record
        another instance holds, in the batch or not, is forgotten rather
        than deleted, as :func:`state.release_records` decides); the new
        instance rows; the changed ones."""
        conn = self.conn
        names = sorted({record.name for queued in self.queued
                        for record in queued.released})
        outside = state.held_by_all(conn, names, self.rows) if names \
            else frozenset()
        stamp = timeutils.utcnow()
        rows: List[Dict[str, Any]] = []
        for queued in self.queued:
            shared = state.shared(queued.released, {
                key for key in map(state.key_of, queued.released)
                if key in queued.held_inside or key in outside})
            rows += state.queue_rows(queued.uuid, queued.adds,
                                     queued.released - shared, shared, stamp)
        state.queue(conn, rows)
        new: List[Dict[str, Any]] = []
        changed: List[Dict[str, Any]] = []
        for uuid, row in sorted(self.rows.items()):
            if row is not None and uuid not in self.existing:
                new.append(row)
            elif row is not None and uuid in self.changed:
                changed.append(row)
        state.write_instances(conn, new, changed)
        self.existing.update(row['uuid'] for row in new)
        self.changed = set()
        self.queued = []

    def tell(self) -> None:
        """Once written: log what was decided, and send the changes when
        the batch commits."""
        told, self.told = self.told, []
        for action in told:
            action()
        if self.sends:
            self.sends = False
            self.service.send()


def backend_class(name: str) -> Any:
    """The backend ``name`` (an entry point of ``novahooks.dns.backends``),
    with its options (``options``) registered in group ``dns_<name>``."""
    manager: Any = driver.DriverManager(NAMESPACE, name,
                                        invoke_on_load=False)
    config.register_plugin_opts('dns_' + name, manager.driver.options)
    return manager.driver


def load_backend(conf: cfg.ConfigOpts) -> DnsBackend:
    """The configured backend, with its option group registered."""
    backend: DnsBackend = backend_class(conf.dns.backend)(conf)
    return backend


_service = ProcessLocal(lambda: DnsService(plugin.configured('dns')))

#: The process's service for the current configuration.
service = _service.get
#: Forget the service (tests).
reset = _service.reset
