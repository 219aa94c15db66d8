"""The DNS plugin's descriptor: options and ``novahooks check``."""

import os
from typing import Any, List, Optional, Tuple

from oslo_config import cfg
from oslo_utils import timeutils
import sqlalchemy as sa

from novahooks_core import config
from novahooks_core.plugin import CheckResult, Plugin
from novahooks_dns import service as dns_service
from novahooks_dns import state


class DnsPlugin(Plugin):
    name = 'dns'
    options = dns_service.OPTS

    def check(self, conf: cfg.ConfigOpts) -> List[CheckResult]:
        try:
            dns = dns_service.service()
        except Exception as exc:
            return [CheckResult('dns', 'backend and database', False,
                                config.describe(exc))]
        results = dns.backend.check(list(dns.zones))
        try:
            spooled = dns.ready()
            with dns.engine.begin() as conn:
                counts = state.counts(conn, list(dns.zones))
        except Exception as exc:
            return results + [CheckResult(
                'dns', 'state database', False,
                config.describe(exc))]
        results.append(CheckResult(
            'dns', 'outbox', not counts['held'],
            '%(pending)d pending (%(held)d held for zones not configured), '
            '%(applied)d applied' % counts))
        results.append(CheckResult('dns', 'spool empty', not spooled,
                                   '%d decision(s) waiting' % spooled))
        return results

    def gauges(self) -> List[Any]:
        """The outbox (pending, held, the oldest pending change's age) and
        the spool."""
        from novahooks_core.containment.metrics import Gauge
        dns = dns_service.service()
        spooled = dns.ready()
        with dns.engine.begin() as conn:
            counts = state.counts(conn, list(dns.zones))
            oldest = conn.execute(sa.func.min(
                state.outbox.c.created_at).select()).scalar()
        age = (timeutils.utcnow() - oldest).total_seconds() if oldest else 0.0
        return [
            Gauge('novahooks_dns_outbox_pending', 'DNS changes waiting to '
                  'be sent (held ones included).', counts['pending']),
            Gauge('novahooks_dns_outbox_held', 'DNS changes held for zones '
                  'no longer configured.', counts['held']),
            Gauge('novahooks_dns_outbox_oldest_seconds', 'Age of the oldest '
                  'DNS change waiting (0: none).', max(0.0, age)),
            Gauge('novahooks_dns_spool_depth', 'DNS decisions kept while '
                  'the database was unavailable.', spooled)]

    def scratch(self, conf: cfg.ConfigOpts, directory: str) -> List[str]:
        """DNS to a hosts file in ``directory``, whatever the backend."""
        super().scratch(conf, directory)
        dns_service.backend_class('hostsfile')
        conf.set_override('backend', 'hostsfile', group='dns')
        conf.set_override('path', os.path.join(directory, 'dns.hosts'),
                          group='dns_hostsfile')
        conf.set_override('reload_command', '', group='dns_hostsfile')
        # Sent in batches by the background sender: a hosts file is
        # rewritten whole, once per change when sent inline.
        conf.set_override('send_budget_ms', 0.0, group='dns')
        return ['DNS to a hosts file there, sent in the background']

    def settle(self, budget: float) -> List[str]:
        """Send the outbox now (a slow server's answer may have left
        changes to the background sender, which dies with the process)."""
        dns = dns_service.service()
        if dns.sender.flush(budget).done:
            return []
        with dns.engine.begin() as conn:
            pending = state.counts(conn)['pending']
        return ['%d DNS change(s) not sent yet: kept in the outbox for the '
                'next novahooks process, or "novahooks dns flush"' % pending]

    def prune(self, before: Any) -> List[Tuple[str, int]]:
        """Instances deleted before ``before``."""
        dns = dns_service.service()
        dns.ready()
        with dns.engine.begin() as conn:
            return sorted(state.prune(conn, before).items())

    def schemas(self) -> List[Any]:
        return [dns_service.service().schema]

    @classmethod
    def list_opts(cls) -> List[Tuple[Optional[str], List[cfg.Opt]]]:
        # Imported here: loading the descriptor (on a hook's first call)
        # must not import dnspython for a backend not configured.
        from novahooks_dns.backends.hostsfile import HostsFileBackend
        from novahooks_dns.backends.rfc2136 import Rfc2136Backend
        return [('dns', list(dns_service.OPTS)),
                ('dns_hostsfile', list(HostsFileBackend.options)),
                ('dns_rfc2136', list(Rfc2136Backend.options))]

