"""The webhook plugin's pure decisions: views, events, the answer's
meaning and the retry delays."""

import datetime

import jsonschema

from novahooks_core import models
from novahooks_core.models import BlockDevice, Flavor, Instance, NetworkInfo
from novahooks_webhook import delivery, events
from novahooks_webhook.delivery import Answer, Policy
from novahooks_webhook.events import Change, Known

NOW = datetime.datetime(2026, 12, 8, 1, 0, 0,
                        tzinfo=datetime.timezone.utc)
INSTANCE = Instance(uuid='u-1', display_name='web 1', hostname='web-1',
                    project_id='p-1', user_id='user-1', host='c-1',
                    node='n-1', vm_state='active',
                    flavor=Flavor(name='m1.small'),
                    metadata={'password': 'Canary-metadata'})


def network(*floating: str) -> NetworkInfo:
    return NetworkInfo(vifs=(models.Vif(
        id='port-1', address='fa:16:3e:00:00:01', network_label='private',
        subnets=(models.Subnet(version=4, ips=(models.IpAddress(
            '10.0.0.5', 4, floating_ips=floating),)),)),))


def test_the_view_keeps_what_an_observation_does_not_carry() -> None:
    known = events.view(INSTANCE, network('203.0.113.5'),
                        [BlockDevice(volume_id='vol-1', device_name='vdb')])
    assert 'Canary' not in repr(known)
    later = events.view(Instance(uuid='u-1', vm_state='stopped'), None,
                        None, known)
    assert later['host'] == 'c-1' and later['flavor'] == 'm1.small'
    assert later['state'] == 'stopped'
    assert later['network'] == known['network']
    assert later['block_devices'] == known['block_devices']
    offloaded = events.view(Instance(uuid='u-1', vm_state=(
        'shelved_offloaded')), None, None, known)
    assert offloaded['host'] is None


def test_a_notification_keeps_the_floating_ips_a_hook_told() -> None:
    notified = network()
    notified = NetworkInfo(notified.vifs, models.UNKNOWABLE)
    merged = events.merged_network(models.to_primitive(
        network('203.0.113.5')), notified)
    assert merged is not None and merged.floating_ips == ('203.0.113.5',)


def test_one_event_per_change_in_a_fixed_order() -> None:
    old = events.view(INSTANCE, network(), [])
    new = events.view(Instance(uuid='u-1', host='c-2', node='n-2',
                               vm_state='error'), network('203.0.113.5'),
                      [BlockDevice(volume_id='vol-1')], old)
    changes = events.changes_between(old, new)
    assert [c.kind for c in changes] == [
        'host_changed', 'network_changed', 'block_devices_changed',
        'state_changed']
    assert changes[1].changes == {'floating_ips_added': ['203.0.113.5']}
    assert events.changes_between(new, new) == []


def test_created_first_deleted_last_nothing_after() -> None:
    view = events.view(INSTANCE, None, None)
    assert events.decide(Known(), view, False) == [Change('created', {})]
    assert [c.kind for c in events.decide(Known(), view, True)] == [
        'created', 'deleted']
    moved = dict(view, host='c-9')
    assert [c.kind for c in events.decide(Known(view, 3), moved, True)] == [
        'deleted']
    assert events.decide(Known(view, 4, deleted=True), moved, False) == []


def test_ids_are_stable_and_sequences_sort_as_strings() -> None:
    assert events.event_id('u-1', 7) == events.event_id('u-1', 7)
    assert events.event_id('u-1', 7) != events.event_id('u-1', 8)
    assert events.event_id('u-1', 7) != events.event_id('u-2', 7)
    texts = [events.sequence_text(n) for n in (1, 2, 9, 10, 11, 100)]
    assert sorted(texts) == texts


def test_an_event_is_valid_against_the_published_schema() -> None:
    view = events.view(INSTANCE, network('203.0.113.5'),
                       [BlockDevice(volume_id='vol-1', boot_index=0)])
    body = events.cloud_event('/region-1', 'u-1', 3, Change(
        'network_changed', {'fixed_ips_added': ['10.0.0.5']}), view,
        NOW.replace(tzinfo=None))
    jsonschema.validate(body['data'], events.schema())
    attributes = body['attributes']
    assert attributes['type'] == 'io.novahooks.instance.network_changed'
    assert attributes['time'] == '2026-12-08T01:00:00.000000Z'
    assert attributes['sequence'] == '00000000000000000003'
    headers, data = delivery.encode(body)
    assert headers == {'content-type': 'application/cloudevents+json'}
    assert b'"specversion": "1.0"' in data


def test_the_subscription_filters() -> None:
    sub = events.Subscription('ops', ('created', events.type_of(
        'deleted')), ('p-1',))
    assert sub.wants('created', 'p-1') and sub.wants('deleted', 'p-1')
    assert not sub.wants('state_changed', 'p-1')
    assert not sub.wants('created', 'p-2')
    assert events.Subscription('all').wants('host_changed', None)


POLICY = Policy(retry_initial=1.0, retry_max=60.0, max_age=3600.0)


def judge(answer: Answer, attempts: int = 1, age: float = 0.0
          ) -> delivery.Verdict:
    return delivery.judge(answer, attempts, age, POLICY, 0.5, NOW)


def test_what_an_answer_means() -> None:
    assert judge(Answer(204)).outcome == 'delivered'
    assert judge(Answer(410)).outcome == 'gone'
    for status in (400, 401, 404, 301):
        assert judge(Answer(status)) == delivery.Verdict(
            'dead', reason='HTTP %d' % status)
    assert judge(Answer(500)) == delivery.Verdict('retry', 0.75, 'HTTP 500')
    assert judge(Answer(error='ReadTimeout: x')).outcome == 'retry'
    assert judge(Answer(503, '30')).delay == 30.0
    assert judge(Answer(429, 'Tue, 08 Dec 2026 01:02:00 GMT')).delay == 120
    assert judge(Answer(500, '30')).delay == 0.75  # 500: not honoured
    assert judge(Answer(503, 'soon')).delay == 0.75  # unreadable
    assert judge(Answer(500), age=3599.5).outcome == 'dead'


def test_backoff_doubles_with_jitter_up_to_the_maximum() -> None:
    assert [delivery.backoff(n, POLICY, 1.0) for n in (1, 2, 3, 8)] == [
        1.0, 2.0, 4.0, 60.0]
    assert delivery.backoff(3, POLICY, 0.0) == 2.0
