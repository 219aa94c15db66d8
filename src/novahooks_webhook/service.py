"""The webhook plugin's per-process service: endpoints, database, spool,
sender, and the decisions the hooks delegate to.

Each observation of an instance is one operation, applied in one
transaction under the instance's row lock: the merged view and sequence
kept, and the events it makes queued for every endpoint that wants them
(the transactional outbox). Inside Nova it goes through the spool when
the database is unavailable; in the listener it joins the batch's unit of
work. Nothing is sent while Nova waits: the background sender does it.
"""

import dataclasses
import datetime
import json
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from oslo_config import cfg
from oslo_log import log as logging
from oslo_utils import timeutils

from novahooks_core import config, models, plugin
from novahooks_core.models import BlockDevice, Instance, NetworkInfo
from novahooks_core.plugin import ProcessLocal
from novahooks_core.state import db
from novahooks_core.state.spool import Spool
from novahooks_webhook import events, state
from novahooks_webhook.delivery import Endpoint, Policy
from novahooks_webhook.sender import Sender

LOG = logging.getLogger(__name__)

MIGRATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          'migrations')

OPTS = [
    cfg.ListOpt('endpoints', default=[],
                help='Names of the endpoints events are sent to; each has '
                     'its group [webhook:NAME].'),
    cfg.StrOpt('source', default='/novahooks',
               help='The CloudEvents "source" of every event: a URI '
                    'reference naming this cloud or region.'),
    config.database_url_opt('the outbox and each instance\'s last view',
                            'webhook'),
    cfg.FloatOpt('retry_initial_seconds', default=1.0, min=0.01,
                 help='First retry delay; doubles per failure (with '
                      'jitter), unless Retry-After says otherwise.'),
    cfg.FloatOpt('retry_max_seconds', default=300.0, min=0.01,
                 help='Longest retry delay.'),
    cfg.FloatOpt('max_age_seconds', default=86400.0, min=1.0,
                 help='An event not delivered this long after it was '
                      'queued is dead-lettered.'),
    cfg.FloatOpt('poll_seconds', default=1.0, min=0.01,
                 help='How often the sender looks for events due when it '
                      'is not woken.'),
]

#: Options of each ``[webhook:NAME]`` group.
ENDPOINT_OPTS = [
    cfg.URIOpt('url', schemes=['http', 'https'], secret=False,
               help='Where events are POSTed.'),
    cfg.StrOpt('secret', secret=True,
               help='The Standard Webhooks signing secret: its base64 '
                    'after a whsec prefix, as in whsec_MfKQ9r8GKYqrTwjU.'),
    cfg.ListOpt('event_types', default=[],
                help='Event types sent (created, network_changed, ... or '
                     'the full type); empty: all.'),
    cfg.ListOpt('projects', default=[],
                help='Project ids whose instances\' events are sent; '
                     'empty: all.'),
    cfg.FloatOpt('connect_timeout', default=5.0, min=0.01,
                 help='Seconds to connect.'),
    cfg.FloatOpt('read_timeout', default=10.0, min=0.01,
                 help='Seconds to wait for the answer.'),
    cfg.StrOpt('ca_bundle', default='',
               help='CA bundle verifying the endpoint\'s certificate; '
                    'empty: the system\'s.'),
    cfg.StrOpt('client_cert', default='',
               help='Client certificate (PEM) for TLS; empty: none.'),
    cfg.StrOpt('client_key', default='',
               help='Its private key, if not in client_cert.'),
    cfg.DictOpt('headers', default={}, secret=True,
                help='Extra headers sent with every event (e.g. '
                     'Authorization:Bearer x); never shown.'),
    cfg.IntOpt('concurrency', default=4, min=1,
               help='Instances delivered to at once.'),
]

#: The group name of endpoint ``name``.
GROUP = 'webhook:%s'


def read_endpoints(conf: cfg.ConfigOpts) -> Dict[str, Endpoint]:
    """The endpoints named in ``[webhook] endpoints``, their groups
    registered. Raises ``ValueError`` for one without a URL or with a
    secret not ``whsec_...``."""
    found: Dict[str, Endpoint] = {}
    for name in conf.webhook.endpoints:
        group = GROUP % name
        conf.register_opts(ENDPOINT_OPTS, group=group)
        values = conf[group]
        if not values.url:
            raise ValueError('[%s] url is not set' % group)
        if not (values.secret or '').startswith('whsec_'):
            raise ValueError('[%s] secret must be whsec_ then base64' % group)
        found[name] = Endpoint(
            name, values.url, values.secret, events.Subscription(
                name, tuple(values.event_types), tuple(values.projects)),
            values.connect_timeout, values.read_timeout, values.ca_bundle,
            values.client_cert, values.client_key, dict(values.headers),
            values.concurrency)
    return found


def _devices(primitive: Optional[Sequence[Mapping[str, Any]]]
             ) -> Optional[Tuple[BlockDevice, ...]]:
    if primitive is None:
        return None
    return tuple(BlockDevice(**device) for device in primitive)


class WebhookService:
    """Shared by every webhook hook of a process."""

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf
        webhook = conf.webhook
        self.endpoints = read_endpoints(conf)
        self.source = webhook.source
        self.engine = db.engine('webhook', webhook.database_url or None)
        self.schema = db.Schema(self.engine, MIGRATIONS,
                                'webhook_alembic_version')
        self.spool = Spool('webhook', os.path.join(
            config.state_dir(), 'webhook-spool.jsonl'), self.engine,
            self._apply, self.ensure_schema)
        self.sender = Sender(self.engine, self.endpoints, Policy(
            webhook.retry_initial_seconds, webhook.retry_max_seconds,
            webhook.max_age_seconds), webhook.poll_seconds,
            before=self.replay)

    def close(self) -> None:
        self.sender.stop()

    def ensure_schema(self) -> None:
        self.schema.ensure()

    def ready(self) -> int:
        """Schema migrated and spooled observations replayed: how many are
        still spooled."""
        self.ensure_schema()
        return self.spool.replay()[1]

    def replay(self) -> None:
        """The sender's replay of the spool before each round."""
        self.spool.replay_in_background()

    def observe(self, instance: Instance, network: Optional[NetworkInfo],
                devices: Optional[Sequence[BlockDevice]],
                deleting: bool = False) -> str:
        """Record an observation of ``instance`` (``network`` and
        ``devices`` ``None``: not told) and queue the events it makes."""
        uuid = instance.uuid
        if not uuid:
            return 'no instance uuid'
        op = {'op': 'observe', 'uuid': uuid,
              'instance': models.to_primitive(
                  _without_network(instance)),
              'network': models.to_primitive(network),
              'devices': models.to_primitive(devices),
              'deleting': deleting, 'at': timeutils.utcnow().isoformat()}
        applied, made = self.spool.write(op, config.write_budget())
        if not applied:
            self.sender.ensure_worker()
            return 'database unavailable: spooled'
        if made and not db.after_commit(self.engine, ('webhook-send', id(
                self)), self.sender.ensure_worker):
            self.sender.ensure_worker()
        return ', '.join(made) if made else 'unchanged'

    def _apply(self, conn: Any, op: Dict[str, Any]) -> List[str]:
        """Carry out one observation (from a hook, or from the spool):
        the kinds of the events it queued."""
        uuid = str(op['uuid'])
        fields = dict(op['instance'])
        flavor = fields.pop('flavor', None)
        instance = Instance(**dict(
            fields, flavor=models.Flavor(**flavor) if flavor else None,
            metadata={}, tags=()))
        known = state.lock_instance(conn, uuid)
        given = None if op['network'] is None else \
            models.network_info_from_primitive(op['network'])
        network = events.merged_network(state.network_of(conn, uuid), given)
        new = events.view(instance, network if given is not None else None,
                          _devices(op['devices']), known.view)
        changes = events.decide(known, new, bool(op['deleting']))
        if not changes and known.view == new:
            return []
        at = datetime.datetime.fromisoformat(op['at'])
        rows = []
        sequence = known.sequence
        for change in changes:
            sequence += 1
            body = events.cloud_event(self.source, uuid, sequence, change,
                                      new, at)
            rows += [{'endpoint': name, 'instance_uuid': uuid,
                      'sequence': sequence,
                      'event_id': body['attributes']['id'],
                      'event_type': body['attributes']['type'],
                      'body': json.dumps(body, sort_keys=True)}
                     for name, endpoint in sorted(self.endpoints.items())
                     if endpoint.subscription.wants(change.kind,
                                                    new['project_id'])]
        state.enqueue(conn, rows)
        if not known.deleted:
            state.keep(conn, uuid, new, models.to_primitive(network)
                       if given is not None else None, sequence,
                       any(c.kind == events.DELETED for c in changes))
        return [change.kind for change in changes]


def _without_network(instance: Instance) -> Instance:
    """``instance`` as an observation keeps it: its network info apart,
    and without its metadata and tags, which no event shows."""
    return dataclasses.replace(instance, network_info=None, metadata={},
                               tags=())


_service = ProcessLocal(lambda: WebhookService(plugin.configured('webhook')))

#: The process's service for the current configuration.
service = _service.get
#: Forget the service (tests).
reset = _service.reset
