"""The DNS plugin's per-process service: settings, database, backend,
sender, and the decisions the hooks delegate to.
"""

import os
import time
from typing import Any, Dict, Optional, Tuple

from oslo_config import cfg
from oslo_log import log as logging
from stevedore import driver

from novahooks_core import config, db
from novahooks_core.models import Instance, NetworkInfo
from novahooks_core.plugin import ProcessLocal
from novahooks_dns import state
from novahooks_dns.backends import NAMESPACE, DnsBackend
from novahooks_dns.records import (
    Settings,
    absolute,
    desired_records,
    forward_name,
)
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
    cfg.StrOpt('database_url', default='', secret=True,
               help='SQLAlchemy URL of the outbox and applied state; '
                    'empty: SQLite at <state_dir>/dns.sqlite.'),
    cfg.FloatOpt('send_budget_ms', default=200.0, min=0.0,
                 help='Longest a hook waits for the DNS server before '
                      'leaving the change to the background sender.'),
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


class DnsService:
    """Shared by every DNS hook of a process."""

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf
        dns = conf.dns
        self.settings = Settings(
            zone=absolute(dns.zone),
            reverse_zones=tuple(absolute(z) for z in dns.reverse_zones),
            ttl=dns.ttl, forward_template=dns.forward_template,
            floating_template=dns.floating_template,
            networks=tuple(dns.networks))
        self.engine = db.engine('dns', dns.database_url or None)
        db.upgrade(self.engine, MIGRATIONS, 'dns_alembic_version')
        self.backend = load_backend(conf)
        self.sender = Sender(self.engine, self.backend, SendPolicy(
            batch=dns.batch_size, timeout=self.backend_timeout(),
            retry_initial=dns.retry_initial_seconds,
            retry_max=dns.retry_max_seconds),
            (self.settings.zone,) + self.settings.reverse_zones)
        self.budget = dns.send_budget_ms / 1000.0
        self.recheck = dns.heal_recheck_seconds
        #: uuid -> (inputs of the records last synced, when).
        self._known: Dict[str, Tuple[Tuple[Any, ...], float]] = {}
        #: Network info seen in delete pre, for delete post.
        self.fallback: Dict[str, Optional[NetworkInfo]] = {}

    def backend_timeout(self) -> float:
        group = getattr(self.conf, 'dns_' + self.conf.dns.backend, None)
        return float(getattr(group, 'timeout', 2.0) or 2.0)

    def sync(self, instance: Instance, network: Optional[NetworkInfo],
             deleting: bool = False) -> str:
        """Make the instance's records match its network info."""
        uuid = instance.uuid
        if not uuid or network is None:
            return 'network info unknown: nothing to do'
        # Everything the records depend on: equal inputs, equal records.
        inputs = (instance.hostname, instance.display_name,
                  instance.project_id, network)
        known = self._known.get(uuid)
        if known is not None and known[0] == inputs and (
                time.monotonic() - known[1] < self.recheck):
            return 'unchanged'
        desired = desired_records(instance, network, self.settings)
        with self.engine.begin() as conn:
            have = state.effective(conn, uuid)
            if not desired and have and not deleting:
                LOG.warning('novahooks dns: network info of live instance '
                            '%s is empty; keeping its %d record(s) (run '
                            '"novahooks dns reconcile" if it really lost '
                            'its addresses)', uuid, len(have))
                return 'empty network info of a live instance: kept'
            adds, deletes = desired - have, have - desired
            queued = state.enqueue(conn, uuid, adds, deletes)
        self._known[uuid] = (inputs, time.monotonic())
        if not queued:
            return 'in sync'
        return '%d added, %d removed%s' % (len(adds), len(deletes),
                                           self.send())

    def prepare_removal(self, instance: Instance) -> None:
        """Before a delete: if no state is kept for the instance (lost, or
        applied by another host's database), keep its info cache, which
        deallocation empties before ``delete_instance`` post."""
        assert instance.uuid
        with self.engine.begin() as conn:
            have = state.effective(conn, instance.uuid)
        if not have:
            self.fallback[instance.uuid] = instance.network_info

    def remove(self, instance: Instance,
               fallback: Optional[NetworkInfo]) -> str:
        """Remove every record of a deleted instance."""
        uuid = instance.uuid
        if not uuid:
            return 'no uuid: nothing to do'
        with self.engine.begin() as conn:
            have = state.effective(conn, uuid)
            if not have and fallback is not None:
                # Local state lost: delete what the info cache implies.
                have = desired_records(instance, fallback, self.settings)
            state.enqueue(conn, uuid, (), have)
            state.forget_instance(conn, uuid)
        self._known.pop(uuid, None)
        return '%d removed%s' % (len(have), self.send() if have else '')

    def send(self) -> str:
        """Send now within the budget; leave the rest to the worker."""
        if self.budget <= 0:
            self.sender.ensure_worker()
            return ' (queued)'
        result = self.sender.flush(self.budget)
        if not result.done:
            self.sender.ensure_worker()
            return ' (pending: %s)' % (result.errors[-1] if result.errors
                                       else 'budget spent')
        return ''

    def owner(self, instance: Instance) -> Optional[str]:
        """The other live instance already holding this one's name."""
        name = forward_name(instance, self.settings)
        if name is None:
            return None
        with self.engine.begin() as conn:
            owner = state.owner_of_name(conn, name)
        return owner if owner != instance.uuid else None

    def remember(self, instance: Instance) -> None:
        if not instance.uuid:
            return
        with self.engine.begin() as conn:
            state.remember_instance(conn, instance.uuid,
                                    forward_name(instance, self.settings),
                                    instance.project_id)


def load_backend(conf: cfg.ConfigOpts) -> DnsBackend:
    """The configured backend, with its option group registered."""
    name = conf.dns.backend
    manager: Any = driver.DriverManager(NAMESPACE, name,
                                        invoke_on_load=False)
    backend_cls = manager.driver
    config.register_plugin_opts('dns_' + name, backend_cls.options)
    backend: DnsBackend = backend_cls(conf)
    return backend


_service = ProcessLocal(
    lambda: DnsService(config.register_plugin_opts('dns', OPTS)))

#: The process's service for the current configuration.
service = _service.get
#: Forget the service (tests).
reset = _service.reset
