"""``[listen]``: the listener's options, and the configuration with them
registered (:func:`configured`)."""

from typing import Any, List

from oslo_config import cfg

from novahooks_core import config

#: ``[listen] transport_url``'s default.
DEFAULT_TRANSPORT_URL = 'rabbit://guest:guest@127.0.0.1:5672/'

OPTS = [
    cfg.StrOpt('transport_url', secret=True,
               default=DEFAULT_TRANSPORT_URL,
               help='oslo.messaging URL of the bus Nova notifies on (the '
                    'transport_url of Nova\'s [oslo_messaging_notifications]'
                    ' or [DEFAULT]). Not used when transport_urls is set.'),
    cfg.MultiStrOpt('transport_urls', secret=True, default=[],
                    help='Several buses Nova notifies on, all consumed by '
                         'this listener into the same handlers and order '
                         'guard: one "transport_urls = URL" line each, e.g. '
                         'the broker of each cell whose computes notify in '
                         'their cell. Replaces transport_url (list it too if '
                         'Nova notifies there). A line is one URL: a '
                         'clustered broker\'s hosts stay in it, comma-'
                         'separated, as in Nova. Lines in several '
                         'configuration files add up.'),
    cfg.StrOpt('exchange', default='nova',
               help='Exchange Nova publishes on (Nova\'s control_exchange).'),
    cfg.StrOpt('topic', default='versioned_notifications',
               help='Nova\'s [notifications] versioned_notifications_topics.'),
    cfg.StrOpt('pool', default='novahooks',
               help='Listener pool: listeners of one pool share a queue '
                    'and split the messages; other consumers of the topic '
                    'are not affected.'),
    cfg.IntOpt('workers', default=1, min=1,
               help='Messages handled at once by one listener. 1 keeps '
                    'the notifications of an instance in order; more '
                    'trades that order for throughput.'),
    cfg.IntOpt('max_attempts', default=3, min=1,
               help='Attempts at a message whose handler fails before it is '
                    'recorded as failed (see "novahooks listen failed").'),
    cfg.FloatOpt('retry_delay', default=1.0, min=0,
                 deprecated_name='requeue_delay',
                 help='Seconds before a failed message is tried again '
                      '(times the attempt number); it waits in '
                      '<state_dir>/listen-retry.jsonl meanwhile.'),
    config.database_url_opt(
        "the order guard (each instance's newest notification applied, per "
        "plugin, and its tombstone), which every listener of a pool must "
        "share", 'listen'),
    cfg.FloatOpt('tombstone_days', default=7.0, min=0,
                 help='How long a deleted instance is remembered, so that '
                      'a late notification about it is ignored.'),
    cfg.IntOpt('batch_size', default=100, min=1,
               help='Messages oslo.messaging hands over at once (its batch '
                    'notification listener), decided as one unit of work: '
                    'the order guard and the plugins read and write their '
                    'state once per batch. Each message of a batch is '
                    'still handled, parked or recorded as failed on its '
                    'own. 1: one message at a time, each committed on its '
                    'own (slower).'),
    cfg.FloatOpt('batch_timeout', default=0.1, min=0.01,
                 help='Longest wait, in seconds, for a batch to fill '
                      '(batch_size > 1): what a quiet bus adds to a '
                      'notification\'s latency.'),
    cfg.FloatOpt('behind_seconds', default=30.0, min=0,
                 help='The listener is behind the bus while the oldest '
                      'message it handles is older than this (the '
                      'publisher\'s timestamp): it then logs its lag at '
                      'INFO every minute, and "novahooks listen status" '
                      'exits 1.'),
    cfg.PortOpt('metrics_port', default=0,
                help='Serve Prometheus metrics on /metrics at this port '
                     '(handlers, messages, lag, the plugins\' state); 0: '
                     'off.'),
    cfg.StrOpt('metrics_host', default='127.0.0.1',
               help='Address /metrics listens on (metrics_port).'),
    cfg.BoolOpt('neutron', default=False,
                help='Also consume Neutron\'s notifications (floating IPs '
                     'and ports, which Nova\'s do not carry): instances then '
                     'get their floating IPs on Nova 22 and later. Needs '
                     'Neutron\'s [oslo_messaging_notifications] driver = '
                     'messagingv2.'),
    cfg.StrOpt('neutron_transport_url', secret=True, default='',
               help='oslo.messaging URL of the bus Neutron notifies on; '
                    'empty: transport_url (the first of transport_urls '
                    'when set).'),
    cfg.StrOpt('neutron_exchange', default='neutron',
               help='Exchange Neutron publishes on (its control_exchange).'),
    cfg.StrOpt('neutron_topic', default='notifications',
               help='Neutron\'s [oslo_messaging_notifications] topics.'),
    cfg.StrOpt('neutron_pool', default='novahooks-neutron',
               help='Listener pool (queue) for Neutron\'s notifications. '
                    'The same as pool on the same bus: one queue for both.'),
]


def configured() -> cfg.ConfigOpts:
    """The configuration with the ``[listen]`` options registered."""
    return config.register_plugin_opts('listen', OPTS)


def list_opts() -> List[Any]:
    """``[listen]`` options, for ``oslo-config-generator``."""
    return [('listen', list(OPTS))]


__all__ = ['DEFAULT_TRANSPORT_URL', 'OPTS', 'configured', 'list_opts']
