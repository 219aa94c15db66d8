"""The webhook plugin fed by Nova's hooks (Nova 21 and earlier, driven as
``nova.hooks`` runs them), delivering to a real receiver on 127.0.0.1."""

import logging
import pathlib
import time
from typing import Any, List

import pytest

from novahooks_core.lifecycle import factories
from novahooks_core.testing import NovaRunner, run_lifecycle
from novahooks_webhook import service as webhook_service
from novahooks_webhook import state
from tests.webhook.conftest import (
    SECRET,
    Receiver,
    check_events,
    webhook_conf,
)

LIFECYCLE = ['created', 'host_changed', 'network_changed',
             'block_devices_changed', 'state_changed', 'deleted']


def lifecycle() -> List[Any]:
    """Boot (a volume holding a canary connection_info), heal, delete."""
    return run_lifecycle(NovaRunner(), bdms=factories.bdm_list(
        factories.volume_bdm(volume_id='vol-1')))


def outbox(status: str, endpoint: str = 'ops') -> List[Any]:
    found = webhook_service.service()
    with found.engine.connect() as conn:
        return state.rows(conn, status, endpoint)


def wait_for(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, 'timed out'
        time.sleep(0.02)
    return check()


def test_a_lifecycle_arrives_signed_in_order_without_secrets(
        receiver: Receiver, tmp_path: pathlib.Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    webhook_conf(tmp_path, {'ops': receiver.url})
    (instance,) = lifecycle()
    received = receiver.wait(len(LIFECYCLE))
    assert receiver.types() == LIFECYCLE
    check_events(received)
    assert {event['subject'] for event in received} == {instance.uuid}
    assert {event['source'] for event in received} == {'/test-region'}
    created, host, network, volumes, up, deleted = (e.data for e in received)
    assert created['state'] == 'building' and created['host'] is None
    assert host['changes']['host'] == {'old': None, 'new': 'compute-1'}
    assert network['changes']['fixed_ips_added'] == ['10.0.0.10',
                                                      'fd00:10::10']
    assert volumes['changes'] == {'attached': ['vol-1'], 'detached': []}
    assert up['changes']['state'] == {'old': 'building', 'new': 'active'}
    assert deleted['flavor'] == 'm1.small' and deleted['network']
    assert len({event['id'] for event in received}) == len(LIFECYCLE)
    assert all(answer == 204 for answer in receiver.answers)
    # Structured mode, and the signature headers Standard Webhooks reads.
    for _, headers, _ in receiver.requests:
        lower = {name.lower(): value for name, value in headers.items()}
        assert lower['content-type'] == 'application/cloudevents+json'
        assert {'webhook-id', 'webhook-timestamp', 'webhook-signature'} <= \
            set(lower)
    # No secret in any body, header or log line.
    seen = caplog.text + ''.join(
        repr(headers) + body.decode() for _, headers, body in
        receiver.requests)
    for secret in list(factories.SECRETS.values()) + [SECRET]:
        assert secret not in seen
    assert outbox('pending') == []


def test_500_then_503_with_retry_after(receiver: Receiver,
                                       tmp_path: pathlib.Path) -> None:
    receiver.faults.extend([('status', 500, {}),
                            ('status', 503, {'Retry-After': '1'})])
    webhook_conf(tmp_path, {'ops': receiver.url})
    lifecycle()
    received = receiver.wait(len(LIFECYCLE))
    assert receiver.types() == LIFECYCLE
    check_events(received)
    times = [at for at, _, _ in receiver.requests]
    assert receiver.answers[:3] == [500, 503, 204]
    assert times[2] - times[1] >= 0.95  # Retry-After: 1
    assert times[1] - times[0] < 0.9  # backoff from 0.05 s


def test_a_slow_answer_is_retried_and_deduplicated_by_id(
        receiver: Receiver, tmp_path: pathlib.Path) -> None:
    receiver.faults.append(('slow', 1.6))  # read_timeout = 1
    webhook_conf(tmp_path, {'ops': receiver.url})
    lifecycle()
    received = receiver.wait(len(LIFECYCLE))
    wait_for(lambda: len(receiver.arrivals) == len(LIFECYCLE) + 1)
    ids = [event['id'] for event in receiver.arrivals]
    assert ids.count(received[0]['id']) == 2  # at least once
    assert receiver.types() == LIFECYCLE
    check_events(received)


def test_410_disables_the_endpoint_alone_with_one_error(
        receiver: Receiver, tmp_path: pathlib.Path,
        caplog: pytest.LogCaptureFixture) -> None:
    other = Receiver()
    try:
        receiver.faults.append(('status', 410, {}))
        webhook_conf(tmp_path, {'ops': receiver.url, 'other': other.url})
        lifecycle()
        check_events(other.wait(len(LIFECYCLE)))
        assert other.types() == LIFECYCLE
        time.sleep(0.5)  # the sender would have retried by now
    finally:
        other.close()
    assert receiver.answers == [410] and receiver.events == []
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and 'disabled' in errors[0].getMessage()
    assert len(outbox('pending')) == len(LIFECYCLE)  # kept
    gauges = {(g.name, g.labels['endpoint']): g.value
              for g in _plugin().gauges()}
    assert gauges['novahooks_webhook_disabled', 'ops'] == 1.0
    assert gauges['novahooks_webhook_disabled', 'other'] == 0.0
    assert gauges['novahooks_webhook_pending', 'ops'] == len(LIFECYCLE)
    assert gauges['novahooks_webhook_delivered', 'other'] == len(LIFECYCLE)


def test_another_4xx_is_dead_lettered_and_the_next_event_goes(
        receiver: Receiver, tmp_path: pathlib.Path,
        caplog: pytest.LogCaptureFixture) -> None:
    receiver.faults.append(('status', 400, {}))
    webhook_conf(tmp_path, {'ops': receiver.url})
    lifecycle()
    receiver.wait(len(LIFECYCLE) - 1)
    assert receiver.types() == LIFECYCLE[1:]
    (dead,) = outbox('dead')
    assert dead.event_type.endswith('.created') and dead.last_error == \
        'HTTP 400'
    assert 'dead-lettered' in caplog.text


def test_filters_by_event_type_and_project(receiver: Receiver,
                                           tmp_path: pathlib.Path) -> None:
    other = Receiver()
    try:
        webhook_conf(tmp_path, {'ops': receiver.url, 'other': other.url},
                     endpoint_extra='event_types = created,'
                     'io.novahooks.instance.deleted\n'
                     'projects = project-a')
        lifecycle()
        receiver.wait(2)
        other.wait(2)
    finally:
        other.close()
    assert receiver.types() == ['created', 'deleted']
    webhook_conf(tmp_path, {'ops': receiver.url},
                 endpoint_extra='projects = project-b')
    lifecycle()
    time.sleep(0.5)
    assert receiver.types() == ['created', 'deleted']


def _plugin() -> Any:
    from novahooks_webhook.plugin import WebhookPlugin
    return WebhookPlugin()
