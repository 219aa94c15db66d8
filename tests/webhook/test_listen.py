"""The webhook plugin behind ``novahooks listen``: Nova 34's own
notification samples through a real RabbitMQ, and the bus's semantics (at
least once, out of order) through the listener's endpoint, delivered to
the documentation's receiver."""

import pathlib
import random
from typing import Any, Dict, Iterator, List
import uuid as uuid_module

import pytest

from novahooks_core import config
from novahooks_core.hooks import dispatch
from novahooks_core.state import db
from novahooks_core.testing.samples import notification
from novahooks_webhook import service as webhook_service
from novahooks_webhook import state
from tests.listen.conftest import (  # noqa: F401
    Running,
    publisher,
    samples_dir,
    wait_until,
)
from tests.listen.test_order import Story, endpoint, feed, lifecycle, port
from tests.rabbit import Publisher, RabbitServer, rabbit  # noqa: F401
from tests.webhook.conftest import Receiver, check_events, webhook_conf

UUID = '178b0921-8f85-4257-88b6-2e743b5a975c'
IP_1 = ('ce531f90-199f-48c0-816c-13e38010b442', 'fa:16:3e:4c:2c:30',
        '10.0.0.3', 4)
IP_2 = ('88dae9fa-0dc6-49e3-8c29-3abc41e99ac9', 'fa:16:3e:4c:2c:31',
        '10.0.0.30', 4)
VOLUME = {'volume_id': 'vol-kept', 'delete_on_termination': False,
          'device_name': '/dev/vdb'}

LISTEN = '''
[listen]
transport_url = %(url)s
pool = %(pool)s
retry_delay = 0.1

[oslo_messaging_rabbit]
amqp_durable_queues = true
rabbit_retry_interval = 1
rabbit_retry_backoff = 1
'''


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    dispatch.reset()
    yield
    dispatch.reset()


def test_nova_34_notifications_over_rabbitmq_arrive_in_order(
        samples_dir: pathlib.Path, publisher: Publisher,  # noqa: F811
        rabbit: RabbitServer, receiver: Receiver,  # noqa: F811
        tmp_path: pathlib.Path) -> None:
    """Boot, interface attach and detach, delete: the receiver sees each
    change once, in order, its data the instance's."""
    webhook_conf(tmp_path, {'ops': receiver.url}, extra=LISTEN % {
        'url': rabbit.url,
        'pool': 'novahooks-test-%s' % uuid_module.uuid4().hex[:8]})
    listener = Running()
    try:
        for name, ips in (('instance-create-end', [IP_1]),
                          ('instance-interface_attach-end', [IP_1, IP_2]),
                          ('instance-interface_detach-end', [IP_1]),
                          ('instance-delete-end', [])):
            publisher.send(notification(samples_dir, name, UUID, ips=ips,
                                        devices=[VOLUME] if ips else []))
        received = receiver.wait(4)
        stats = listener.stats()
    finally:
        listener.stop()
    assert receiver.types() == ['created', 'network_changed',
                                'network_changed', 'deleted']
    check_events(received)
    created, attached, detached, deleted = (event.data for event in received)
    assert created['name'] == 'web-1' and created['host'] == 'compute'
    assert [p['fixed_ips'] for p in created['network']] == [['10.0.0.3']]
    assert [d['volume_id'] for d in created['block_devices']] == [
        'vol-kept']
    assert attached['changes'] == {'ports_added': [IP_2[0]],
                                   'fixed_ips_added': ['10.0.0.30']}
    assert detached['changes'] == {'ports_removed': [IP_2[0]],
                                   'fixed_ips_removed': ['10.0.0.30']}
    # The delete's teardown (no IPs, no volumes) is not news: deleted
    # carries the instance as it was last seen.
    assert deleted['network'] == detached['network']
    assert 'failed' not in stats


def outbox_count() -> int:
    """Events in the outbox, whatever their status, in one statement (a
    count per status raced the sender: a row delivered between two
    statements was counted twice)."""
    found = webhook_service.service()
    with found.engine.connect() as conn:
        return len(conn.execute(state.outbox.select()).fetchall())


def deliver(story: Story, messages: List[Dict[str, Any]],
            receiver: Receiver, tmp_path: pathlib.Path) -> List[Any]:
    """Feed ``messages`` to a listener endpoint with the webhook plugin;
    the events the receiver got (new ones) once the outbox is sent."""
    webhook_conf(tmp_path, {'ops': receiver.url})
    target = endpoint()
    for message in messages:
        feed(target, message)
    sender = webhook_service.service().sender
    wait_until(lambda: sender.flush(5.0) and not _pending(), timeout=60,
               what='the outbox delivered')
    return list(receiver.events)


def _pending() -> int:
    found = webhook_service.service()
    with found.engine.connect() as conn:
        return len(state.rows(conn, state.PENDING))


def test_redelivered_and_shuffled_notifications(
        samples_dir: pathlib.Path,  # noqa: F811
        tmp_path: pathlib.Path) -> None:
    """At least once and out of order: after dedupe by id, each instance's
    sequence strictly increases, starts with created, nothing follows
    deleted, and each ends where the ordered run ends."""
    story = Story(samples_dir)
    uuids = [lifecycle(story, n, delete=n % 2 == 0) for n in range(1, 5)]
    ordered = Receiver()
    mixed = Receiver()
    try:
        in_order = deliver(story, story.messages, ordered,
                           tmp_path / 'ordered')
        check_events(in_order)
        chosen = random.Random(26)
        messages = story.messages + [m for m in story.messages
                                     if chosen.random() < 0.4]
        chosen.shuffle(messages)
        config.reset()
        db.reset()
        shuffled = deliver(story, messages, mixed, tmp_path / 'mixed')
        check_events(shuffled)
    finally:
        ordered.close()
        mixed.close()

    def last(received: List[Any], uuid: str) -> Any:
        return [event for event in received if event['subject'] == uuid][-1]

    for n, uuid in enumerate(uuids, 1):
        ended = last(shuffled, uuid)
        if n % 2 == 0:
            assert ended['type'].endswith('.deleted')
        else:
            assert ended.data['network'] == last(in_order, uuid).data[
                'network']
            assert [ip for p in ended.data['network']
                    for ip in p['fixed_ips']] == [port(2 * n)[2]]
    assert ordered.types(uuids[0]) == [
        'created', 'network_changed', 'block_devices_changed',
        'state_changed', 'network_changed', 'network_changed']


def test_a_redelivered_notification_makes_no_second_event(
        samples_dir: pathlib.Path,  # noqa: F811
        tmp_path: pathlib.Path,
        receiver: Receiver) -> None:
    story = Story(samples_dir)
    uuid = '00000000-0000-0000-0001-000000000042'
    create = story.say('instance-create-end', uuid, 'i42', [port(84)])
    webhook_conf(tmp_path, {'ops': receiver.url})
    target = endpoint()
    feed(target, create)
    assert outbox_count() == 1
    feed(target, create)
    feed(target, dict(create, metadata=dict(
        create['metadata'], message_id=str(uuid_module.uuid4()))))
    assert outbox_count() == 1
    receiver.wait(1)
    assert receiver.types() == ['created']
