"""One delivery: an event POSTed in CloudEvents' structured mode, signed
by the Standard Webhooks specification, and what its answer means.

The format is the CloudEvents SDK's (``to_structured``), the signature the
``standardwebhooks`` library's, the HTTP client ``requests``: none of them
is written here. :func:`judge` and :func:`backoff` are pure.
"""

import dataclasses
import datetime
import email.utils
import math
import threading
import time
from typing import Any, Dict, Mapping, Optional, Tuple

from novahooks_core.containment import redact
from novahooks_webhook.events import Subscription

try:  # cloudevents >= 2 keeps the 1.x API under cloudevents.v1
    from cloudevents.v1.conversion import to_structured
    from cloudevents.v1.http import CloudEvent
except ImportError:  # cloudevents 1.x (Python 3.8)
    from cloudevents.conversion import to_structured  # type: ignore
    from cloudevents.http import CloudEvent  # type: ignore

DELIVERED, RETRY, DEAD, GONE = 'delivered', 'retry', 'dead', 'gone'

#: Answers whose ``Retry-After`` is honoured.
RETRY_AFTER_STATUSES = (429, 503)


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """A ``[webhook:NAME]`` group, read."""

    name: str
    url: str
    secret: str
    subscription: Subscription
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    ca_bundle: str = ''
    client_cert: str = ''
    client_key: str = ''
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    concurrency: int = 4

    def __repr__(self) -> str:  # never the secret or the headers
        return 'Endpoint(%r, %r)' % (self.name, redact.mask_url(self.url))


@dataclasses.dataclass(frozen=True)
class Policy:
    """Retries: exponential from ``retry_initial`` to ``retry_max``
    seconds, with jitter; an event older than ``max_age`` seconds is
    dead-lettered."""

    retry_initial: float = 1.0
    retry_max: float = 300.0
    max_age: float = 86400.0


@dataclasses.dataclass(frozen=True)
class Answer:
    """What an attempt got: an HTTP status, or an error (no answer)."""

    status: Optional[int] = None
    retry_after: Optional[str] = None
    error: str = ''
    seconds: float = 0.0
    body: str = ''


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What to do with the event: delivered, retry after ``delay``
    seconds, dead-lettered, or the endpoint is gone."""

    outcome: str
    delay: float = 0.0
    reason: str = ''


def retry_after(value: Optional[str], now: datetime.datetime
                ) -> Optional[float]:
    """Seconds a ``Retry-After`` header asks for (seconds or an HTTP date;
    ``None`` when absent or unreadable)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, (when - now).total_seconds())


def backoff(attempts: int, policy: Policy, jitter: float) -> float:
    """The delay after the ``attempts``-th failure: doubling from
    ``retry_initial``, at most ``retry_max``, its upper half drawn by
    ``jitter`` (0 to 1)."""
    ceiling = min(policy.retry_max,
                  policy.retry_initial * 2.0 ** max(0, attempts - 1))
    return ceiling / 2.0 * (1.0 + jitter)


def judge(answer: Answer, attempts: int, age: float, policy: Policy,
          jitter: float, now: datetime.datetime) -> Verdict:
    """What ``answer`` (to the ``attempts``-th attempt at an event queued
    ``age`` seconds ago) means: 2xx delivered; 410 the endpoint is gone;
    another 3xx or 4xx but 429 is dead-lettered at once; 429, 5xx and no
    answer are retried (after ``Retry-After`` on 429 and 503, else with
    backoff) until the event is older than ``max_age``."""
    status = answer.status
    if status is not None and 200 <= status < 300:
        return Verdict(DELIVERED)
    what = ('HTTP %d' % status) if status is not None else answer.error
    if status == 410:
        return Verdict(GONE, reason=what)
    if status is not None and status < 500 and status != 429:
        return Verdict(DEAD, reason=what)
    delay = retry_after(answer.retry_after, now) \
        if status in RETRY_AFTER_STATUSES else None
    if delay is None:
        delay = backoff(attempts, policy, jitter)
    if age + delay > policy.max_age:
        return Verdict(DEAD, reason='%s; older than max_age (%ds)' % (
            what, policy.max_age))
    return Verdict(RETRY, delay, what)


def encode(event: Mapping[str, Any]) -> Tuple[Dict[str, str], bytes]:
    """The structured-mode headers and body of an outbox event
    (``attributes`` and ``data``), by the CloudEvents SDK."""
    headers, body = to_structured(CloudEvent(dict(event['attributes']),
                                             event['data']))
    return dict(headers), body


class Client:
    """POSTs to one endpoint (a ``requests`` session per thread)."""

    def __init__(self, endpoint: Endpoint) -> None:
        import requests
        from standardwebhooks import Webhook
        self.endpoint = endpoint
        self._requests = requests
        self._signer = Webhook(endpoint.secret)
        self._local = threading.local()

    def _session(self) -> Any:
        session = getattr(self._local, 'session', None)
        if session is None:
            endpoint = self.endpoint
            session = self._local.session = self._requests.Session()
            session.verify = endpoint.ca_bundle or True
            if endpoint.client_cert:
                session.cert = (endpoint.client_cert, endpoint.client_key) \
                    if endpoint.client_key else endpoint.client_cert
        return session

    def signed(self, event: Mapping[str, Any]) -> Tuple[Dict[str, str],
                                                         bytes]:
        """Headers and body of ``event``, signed now."""
        headers, body = encode(event)
        now = datetime.datetime.now(datetime.timezone.utc)
        message_id = str(event['attributes']['id'])
        headers.update(self.endpoint.headers)
        headers.update({
            'webhook-id': message_id,
            'webhook-timestamp': str(math.floor(now.timestamp())),
            # The body as text: standardwebhooks 1.0.1 (the newest on
            # Python 3.8) formats bytes into what it signs as "b'...'".
            'webhook-signature': self._signer.sign(message_id, now,
                                                   body.decode('utf-8'))})
        return headers, body

    def post(self, event: Mapping[str, Any]) -> Answer:
        """Send ``event`` once; never raises for a network failure."""
        endpoint = self.endpoint
        headers, body = self.signed(event)
        started = time.monotonic()
        try:
            response = self._session().post(
                endpoint.url, data=body, headers=headers,
                timeout=(endpoint.connect_timeout, endpoint.read_timeout),
                allow_redirects=False)
        except Exception as exc:
            return Answer(error=redact.scrub('%s: %s' % (
                type(exc).__name__, exc), [endpoint.secret]),
                seconds=time.monotonic() - started)
        with response:
            return Answer(response.status_code,
                          response.headers.get('Retry-After'),
                          seconds=time.monotonic() - started,
                          body=response.text[:200])

    def close(self) -> None:
        session = getattr(self._local, 'session', None)
        if session is not None:
            session.close()
