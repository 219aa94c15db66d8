"""``novahooks listen``: the enabled plugins fed from Nova's versioned
notifications (Nova 22 and later have no hooks).

An oslo.messaging notification listener (threading executor) on the
``versioned_notifications`` topic of the ``nova`` exchange, priorities
``INFO`` and ``ERROR``, in its own pool, so it never takes messages from
other consumers. Each mapped notification (:mod:`.mapping`) runs the same
handlers, guarded the same way, as the hook dispatcher, under the order
guard (:mod:`.guard`): effects take place once, in each instance's order,
whatever the bus redelivers, reorders or splits between listeners.

- A handler that fails (``error``), or an order guard that cannot be
  reached, parks the message in ``<state_dir>/listen-retry.jsonl``
  (fsync'd) and acknowledges it: the consumer never sleeps, and the queue
  moves on. Parked messages are retried after ``retry_delay`` seconds
  (times the attempt); the plugins that already applied one skip it
  (their marks). After ``max_attempts`` it is recorded as failed.
- A message that cannot be read, or that a handler rejects as bad input,
  is recorded as failed at once: retrying cannot help.
- Failed messages are kept in ``<state_dir>/listen-failed.jsonl`` with the
  notification itself, so ``novahooks listen failed --replay`` can feed
  them again once the cause is fixed. Kept: the event type, publisher,
  priority, message id and timestamp, and the payload with the values of
  secret-looking instance metadata keys masked; of the request context
  only its request, project and user ids (never its token).
- SIGTERM and SIGINT stop consuming, let the in-flight messages finish,
  and exit, within :data:`STOP_SECONDS` whatever the broker does.
- With ``[listen] neutron``, Neutron's notifications (floating IPs and
  ports, :mod:`.neutron`) are consumed too, in their own pool (or in
  Nova's queue when ``neutron_pool`` is ``pool`` on the same bus): each
  floating IP's and port's newest fact is kept under the same ordering
  rules, and every event delivered carries the floating IPs of the
  instance's ports; an instance a floating IP joins or leaves gets an
  ``instance_network_info`` post of its newest Nova notification.
- If the broker goes away, oslo.messaging reconnects; messages waiting in
  the durable queue are then delivered.

This module only names the listener's public parts; each has a module of
its own: :mod:`.options` (``[listen]``), :mod:`.message` (a notification
received), :mod:`.endpoint` (handling one), :mod:`.batch` (a batch at
once), :mod:`.parking` (parked and failed messages), :mod:`.runtime`
(the running listener) and :mod:`.transport` (its buses and their
check). Code of this tree imports those; users' code may import here.
"""

from novahooks_core.notify.endpoint import (
    NotificationEndpoint,
    ServerEndpoint,
    guard_for,
)
from novahooks_core.notify.message import Family, Message, Stats
from novahooks_core.notify.options import (
    DEFAULT_TRANSPORT_URL,
    OPTS,
    configured,
    list_opts,
)
from novahooks_core.notify.parking import Parking, failed_journal
from novahooks_core.notify.runtime import (
    ACK_GRACE_SECONDS,
    CONNECT_WARNING_SECONDS,
    PRUNE_SECONDS,
    RETRY_POLL_SECONDS,
    STOP_SECONDS,
    Listener,
)
from novahooks_core.notify.transport import bus_urls, check_transport

__all__ = ['ACK_GRACE_SECONDS', 'CONNECT_WARNING_SECONDS',
           'DEFAULT_TRANSPORT_URL', 'OPTS', 'PRUNE_SECONDS',
           'RETRY_POLL_SECONDS', 'STOP_SECONDS', 'Family', 'Listener',
           'Message', 'NotificationEndpoint', 'Parking', 'ServerEndpoint',
           'Stats', 'bus_urls', 'check_transport', 'configured',
           'failed_journal', 'guard_for', 'list_opts']
