"""The webhook plugin's descriptor: options (``[webhook]`` and one
``[webhook:NAME]`` group per endpoint), ``novahooks check``, gauges."""

from typing import Any, List, Optional, Tuple

from oslo_config import cfg
from oslo_utils import timeutils

from novahooks_core import config
from novahooks_core.plugin import CheckResult, Plugin
from novahooks_webhook import service as webhook_service
from novahooks_webhook import state


class WebhookPlugin(Plugin):
    name = 'webhook'
    options = webhook_service.OPTS

    def check(self, conf: cfg.ConfigOpts) -> List[CheckResult]:
        try:
            found = webhook_service.service()
            spooled = found.ready()
            with found.engine.begin() as conn:
                disabled = state.disabled(conn)
        except Exception as exc:
            return [CheckResult('webhook', 'endpoints and database', False,
                                config.describe(exc))]
        results = [CheckResult(
            'webhook', 'endpoint %s' % name, name not in disabled,
            disabled.get(name, 'enabled'))
            for name in sorted(found.endpoints)]
        results.append(CheckResult('webhook', 'spool empty', not spooled,
                                   '%d observation(s) waiting' % spooled))
        return results

    def gauges(self) -> List[Any]:
        """Per endpoint: events pending, delivered and dead-lettered, the
        oldest pending event's age, whether it is disabled."""
        from novahooks_core.containment.metrics import Gauge
        found = webhook_service.service()
        found.ready()
        with found.engine.begin() as conn:
            counts = state.counts(conn, sorted(found.endpoints))
            disabled = state.disabled(conn)
        now = timeutils.utcnow()
        gauges = []
        for name in sorted(found.endpoints):
            labels = {'endpoint': name}
            gauges += [
                Gauge('novahooks_webhook_%s' % status, 'Events %s.' % why,
                      counts.get((name, status), 0), labels)
                for status, why in (
                    (state.PENDING, 'waiting to be delivered'),
                    (state.DELIVERED, 'delivered (until pruned)'),
                    (state.DEAD, 'dead-lettered'))]
            oldest = counts.get((name, 'oldest'))
            age = (now - oldest).total_seconds() if oldest else 0.0
            gauges += [
                Gauge('novahooks_webhook_oldest_pending_seconds', 'Age of '
                      'the oldest event waiting (0: none).', max(0.0, age),
                      labels),
                Gauge('novahooks_webhook_disabled', 'Whether the endpoint '
                      'was disabled by a 410 Gone.', float(name in disabled),
                      labels)]
        return gauges

    def settle(self, budget: float) -> List[str]:
        """Deliver what is due now."""
        if webhook_service.service().sender.flush(budget):
            return []
        return ['webhook events not delivered yet: kept in the outbox']

    def prune(self, before: Any) -> List[Tuple[str, int]]:
        found = webhook_service.service()
        found.ready()
        with found.engine.begin() as conn:
            return sorted(state.prune(conn, before).items())

    def schemas(self) -> List[Any]:
        return [webhook_service.service().schema]

    @classmethod
    def list_opts(cls) -> List[Tuple[Optional[str], List[cfg.Opt]]]:
        """``[webhook]``, and the template of every ``[webhook:<name>]``."""
        return [('webhook', list(webhook_service.OPTS)),
                (webhook_service.GROUP % 'name',
                 list(webhook_service.ENDPOINT_OPTS))]

