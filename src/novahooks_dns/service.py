"""The DNS plugin's per-process service: settings, database, backend,
sender, and the decisions the hooks delegate to.
"""

import os
from typing import Any, Dict, Optional, Tuple

from oslo_config import cfg
from oslo_log import log as logging
from stevedore import driver

from novahooks_core import config, db, models, plugin
from novahooks_core.lru import LRU
from novahooks_core.models import Instance, NetworkInfo
from novahooks_core.plugin import ProcessLocal
from novahooks_core.spool import Spool
from novahooks_dns import decide, state
from novahooks_dns.backends import NAMESPACE, DnsBackend
from novahooks_dns.records import Settings, absolute, forward_name
from novahooks_dns.sender import Sender, SendPolicy

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
            before=self.ready)
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
        process; see :class:`novahooks_core.db.Schema`)."""
        self.schema.ensure()

    def ready(self) -> int:
        """Schema migrated and spooled decisions replayed (before any read
        of the state); returns how many are still spooled."""
        self.ensure_schema()
        return self.spool.replay()[1]

    # -- decisions, each in one transaction under the instance's lock ----

    def _apply(self, conn: Any, op: Dict[str, Any]) -> Tuple[int, int, str]:
        """Carry out one operation (from a hook, or from the spool):
        (added, removed, note)."""
        kind = op['op']
        if kind == 'remember':
            state.remember_instance(conn, op['uuid'], op.get('name'),
                                    op.get('project_id'))
            return 0, 0, ''
        instance = Instance(**op['instance'])
        uuid = str(instance.uuid)
        row = state.lock_instance(conn, uuid)
        have = state.effective(conn, uuid)
        if kind == 'sync':
            given = _network(op['network'])
            assert given is not None
            plan = decide.plan_sync(
                instance, given, row.network_json if row is not None
                else None, have, self.settings, bool(op.get('deleting')))
            if plan.kept:
                LOG.warning('novahooks dns: network info of live instance '
                            '%s is empty; keeping its %d record(s) (run '
                            '"novahooks dns reconcile" if it really lost '
                            'its addresses)', uuid, len(have))
                return 0, 0, 'empty network info of a live instance: kept'
            removed = sum(state.release_records(conn, uuid, plan.stale))
            state.enqueue(conn, uuid, plan.adds, ())
            if plan.network_json is not None:
                state.keep_network(conn, uuid, plan.network_json)
            return len(plan.adds), removed, ''
        if kind == 'remove':
            gone = decide.records_to_remove(
                instance, have, row is not None, _network(op.get('fallback')),
                self.settings)
            removed = sum(state.release_records(conn, uuid, gone))
            state.forget_instance(conn, uuid)
            return 0, removed, ''
        raise ValueError('unknown DNS operation %r' % kind)

    def _write(self, op: Dict[str, Any]) -> Optional[Tuple[int, int, str]]:
        """Decide ``op`` now within ``[DEFAULT] write_budget_ms``, or keep
        it in the spool (``None``) for the background sender to replay."""
        applied, result = self.spool.write(op, config.write_budget())
        if not applied:
            self.sender.ensure_worker()
            return None
        return result

    def sync(self, instance: Instance, network: Optional[NetworkInfo],
             deleting: bool = False) -> Tuple[str, bool]:
        """Make the instance's records match its network info: what was
        done, and whether it was decided (not spooled, not kept), so an
        equal call may be taken as unchanged (:mod:`novahooks_core.seen`).
        """
        uuid = instance.uuid
        if not uuid or network is None:
            return 'network info unknown: nothing to do', False
        result = self._write({
            'op': 'sync', 'uuid': uuid, 'instance': _instance_op(instance),
            'network': models.to_primitive(network), 'deleting': deleting})
        if result is None:
            return 'database unavailable: spooled', False
        adds, removed, note = result
        if note:
            return note, False
        if not adds and not removed:
            return 'in sync', True
        return '%d added, %d removed%s' % (adds, removed, self.send()), True

    def prepare_removal(self, instance: Instance) -> None:
        """Before a delete: keep its info cache, which deallocation empties
        before ``delete_instance`` post, in case no state is kept for the
        instance (lost, or applied by another host's database)."""
        assert instance.uuid
        self.fallback.put(instance.uuid, instance.network_info)

    def remove(self, instance: Instance,
               fallback: Optional[NetworkInfo]) -> str:
        """Remove every record of a deleted instance."""
        uuid = instance.uuid
        if not uuid:
            return 'no uuid: nothing to do'
        result = self._write({
            'op': 'remove', 'uuid': uuid, 'instance': _instance_op(instance),
            'fallback': models.to_primitive(fallback)})
        if result is None:
            return 'database unavailable: spooled'
        removed = result[1]
        return '%d removed%s' % (removed, self.send() if removed else '')

    def send(self) -> str:
        """Send now within the budget; leave the rest to the worker. In a
        unit of work (the listener's batch), once it commits: the batch's
        changes to a zone then go in one UPDATE."""
        if db.after_commit(self.engine, ('dns-send', id(self)),
                           lambda: self._send_now(self.batch_budget, True)):
            return ' (sent when the batch commits)'
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

    def remember(self, instance: Instance) -> None:
        if not instance.uuid:
            return
        self._write({'op': 'remember', 'uuid': instance.uuid,
                     'name': forward_name(instance, self.settings),
                     'project_id': instance.project_id})


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
