"""The buses the listener consumes (:func:`bus_urls`) and ``novahooks
check`` of them (:func:`check_transport`: each broker answers and takes
the credentials)."""

import contextlib
from typing import Any, List, Optional

from oslo_config import cfg

from novahooks_core.containment import redact


def bus_urls(group: Any) -> List[str]:
    """The buses Nova notifies on that the listener consumes: each of
    ``[listen] transport_urls`` once, in order, or else ``transport_url``."""
    urls: List[str] = []
    for url in group.transport_urls or ():
        url = url.strip()
        if url and url not in urls:
            urls.append(url)
    return urls or [group.transport_url]


def check_transport(conf: cfg.ConfigOpts, timeout: float = 3.0
                    ) -> List[Any]:
    """``novahooks check`` of ``[listen]``: each bus (each of
    ``transport_urls``, or ``transport_url``; and Neutron's, when it has
    its own) answers and takes the credentials: one result each, the URL's
    password masked."""
    import oslo_messaging

    from novahooks_core.plugin import CheckResult
    group = conf.listen
    nova = bus_urls(group)
    urls = [('transport' if len(nova) == 1 else 'transport %d' % number,
             url) for number, url in enumerate(nova, 1)]
    if group.neutron and group.neutron_transport_url and (
            group.neutron_transport_url not in nova):
        urls.append(('neutron transport', group.neutron_transport_url))
    results = []
    for what, url in urls:
        shown = redact.mask_url(url)
        try:
            parsed = oslo_messaging.TransportURL.parse(conf, url)
        except Exception as exc:
            results.append(CheckResult('listen', what, False, '%s: %s' % (
                shown, redact.scrub(str(exc), [url]))))
            continue
        if parsed.transport != 'rabbit':
            results.append(CheckResult('listen', what, True, '%s (%s: not '
                                       'checked)' % (shown,
                                                     parsed.transport)))
            continue
        results.append(_check_rabbit(what, shown, parsed, timeout))
    return results


def _check_rabbit(what: str, shown: str, parsed: Any, timeout: float) -> Any:
    """An AMQP login to the first of ``parsed``'s hosts that answers."""
    from kombu import connection as kombu_connection

    from novahooks_core.plugin import CheckResult
    connection_class: Any = kombu_connection.Connection  # kombu is untyped
    errors = []
    for host in parsed.hosts or []:
        connection = connection_class(
            hostname=host.hostname or '127.0.0.1', port=host.port or 5672,
            userid=host.username or 'guest',
            password=host.password or 'guest',
            virtual_host=parsed.virtual_host or '/',
            connect_timeout=timeout)
        try:
            connection.connect()
            return CheckResult('listen', what, True, '%s: %s:%s answers' % (
                shown, host.hostname, host.port or 5672))
        except Exception as exc:
            errors.append('%s:%s: %s' % (host.hostname, host.port or 5672,
                                         redact.scrub('%s: %s' % (
                                             type(exc).__name__, exc),
                                             [host.password or ''])))
        finally:
            with contextlib.suppress(Exception):
                connection.release()
    return CheckResult('listen', what, False, '%s: %s' % (
        shown, '; '.join(errors) or 'no host'))



def server_connected(server: Any) -> Optional[bool]:
    """Whether an oslo.messaging server's broker connection is up now
    (the rabbit driver's kombu connection, read without touching it);
    ``None`` when the server or its driver does not say (not started, or
    another driver)."""
    try:
        # The listener's connection context, the driver's connection, and
        # kombu's, whose ``connected`` never connects (its ``connection``
        # property would).
        kombu = server.listener._poll_style_listener.conn.connection \
            .connection
        if not type(kombu).__module__.startswith('kombu'):
            return None
        return bool(kombu.connected)
    except AttributeError:
        return None


__all__ = ['bus_urls', 'check_transport', 'server_connected']
