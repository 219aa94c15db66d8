"""``novahooks listen`` end to end: Nova's own notification samples through
a real RabbitMQ into the DNS (BIND), storage and netinfo plugins."""

import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import threading
import time
from typing import Any, ClassVar, Dict, Iterator, List, Optional, Set

import pytest

from novahooks_core import HookEvent, HookPoint, NovaHook, config
from novahooks_core.hooks import dispatch
from novahooks_core.testing.samples import notification
from tests.conftest import cli
from tests.dns.conftest import BindServer
from tests.listen.conftest import (
    Publisher,
    Running,
    consumers,
    pool_of,
    rows,
    wait_until,
    write_listen_conf,
)
from tests.rabbit import RabbitServer

UUID = '178b0921-8f85-4257-88b6-2e743b5a975c'
PORT_1 = 'ce531f90-199f-48c0-816c-13e38010b442'
PORT_2 = '88dae9fa-0dc6-49e3-8c29-3abc41e99ac9'
IP_1 = (PORT_1, 'fa:16:3e:4c:2c:30', '10.0.0.3', 4)
IP_2 = (PORT_2, 'fa:16:3e:4c:2c:31', '10.0.0.30', 4)
KEPT = {'volume_id': 'vol-kept', 'delete_on_termination': False,
        'device_name': '/dev/vdb'}
GONE = {'volume_id': 'vol-gone', 'delete_on_termination': True,
        'device_name': '/dev/vdc'}


def a_records(bind: BindServer, host: str) -> set:
    return bind.query('%s.cloud.internal.' % host, 'A')


def test_every_mapped_notification_reaches_the_plugins(
        samples_dir: pathlib.Path, publisher: Publisher, running: Any,
        bind: BindServer, tmp_path: pathlib.Path) -> None:
    listener: Running = running()
    state = tmp_path / 'state'
    handled = [0]

    def send(name: str, **fields: Any) -> None:
        publisher.send(notification(samples_dir, name, UUID, **fields))
        handled[0] += 1
        wait_until(lambda: listener.stats().get('handled', 0) >= handled[0],
                   what='%s handled' % name)

    def records(*addresses: str) -> None:
        """The server holds these A records (DNS is sent by the
        background sender once a batch commits)."""
        wait_until(lambda: a_records(bind, 'web-1') == set(addresses),
                   what='A records %s' % (addresses,))

    send('instance-create-end', ips=[IP_1], devices=[KEPT, GONE])
    records('10.0.0.3')
    wait_until(lambda: bind.query('3.0.0.10.in-addr.arpa.', 'PTR') == {
        'web-1.cloud.internal.'}, what='PTR record')
    assert rows(state, 'storage.sqlite',
                'select volume_id, fate from storage_volumes order by 1') == [
        ('vol-gone', 'attached'), ('vol-kept', 'attached')]
    send('instance-interface_attach-end', ips=[IP_1, IP_2],
         devices=[KEPT, GONE])
    records('10.0.0.3', '10.0.0.30')
    send('instance-interface_detach-end', ips=[IP_1], devices=[KEPT, GONE])
    records('10.0.0.3')
    send('instance-update', ips=[IP_1], devices=[KEPT, GONE])
    # A delete: the network is deallocated (shutdown.end), then it ends.
    send('instance-shutdown-end', ips=[], devices=[KEPT, GONE])
    send('instance-delete-end', ips=[], devices=[])
    records()
    wait_until(lambda: bind.query('3.0.0.10.in-addr.arpa.', 'PTR') == set(),
               what='PTR record removed')
    assert rows(state, 'storage.sqlite',
                'select volume_id, fate from storage_volumes order by 1') == [
        ('vol-gone', 'deleted_with_instance'), ('vol-kept', 'retained')]
    assert rows(state, 'netinfo.sqlite',
                'select kind, vif_id, anomaly from netinfo_events '
                'order by id') == [
        ('vif_added', PORT_1, 0), ('vif_added', PORT_2, 0),
        ('vif_removed', PORT_2, 0), ('vif_removed', PORT_1, 0)]
    stats = listener.stats()
    assert stats['handled'] == 6 and 'failed' not in stats
    assert not (state / 'listen-failed.jsonl').exists()


def test_a_delete_done_by_nova_api_with_the_compute_down(
        samples_dir: pathlib.Path, publisher: Publisher, running: Any,
        bind: BindServer, tmp_path: pathlib.Path) -> None:
    """Hooks never saw this delete; the notification does."""
    listener: Running = running()
    publisher.send(notification(samples_dir, 'instance-create-end', UUID,
                                hostname='db-1', ips=[IP_1],
                                devices=[GONE]))
    wait_until(lambda: a_records(bind, 'db-1') == {'10.0.0.3'},
               what='A record')
    down = notification(samples_dir, 'instance-delete-end_compute_down',
                        UUID, hostname='db-1')
    assert down['publisher_id'].startswith('nova-api')
    publisher.send(down)
    wait_until(lambda: listener.stats().get('handled') == 2, what='delete')
    wait_until(lambda: a_records(bind, 'db-1') == set(),
               what='A record removed')
    assert rows(tmp_path / 'state', 'storage.sqlite',
                'select fate from storage_volumes') == [
        ('deleted_with_instance',)]


class Flaky(NovaHook):
    """Fails its first ``failures`` calls (test-only plugin ``flaky``)."""

    plugin_name = 'flaky'
    hook_point = HookPoint.BUILD_INSTANCE
    failures: ClassVar[int] = 0
    calls: ClassVar[List[Optional[str]]] = []

    def handle_post(self, event: HookEvent) -> str:
        Flaky.calls.append(event.instance_uuid)
        if len(Flaky.calls) <= Flaky.failures:
            raise RuntimeError('backend down')
        return 'ok'


@pytest.fixture
def flaky(listen_conf: pathlib.Path, bind: BindServer,
          rabbit: RabbitServer, tmp_path: pathlib.Path
          ) -> Iterator[pathlib.Path]:
    """Only ``audit`` and the ``flaky`` test plugin enabled (injected beside
    the installed handler classes)."""
    write_listen_conf(listen_conf, bind, tmp_path / 'state', rabbit.url,
                      pool_of(listen_conf), plugins='audit,flaky')
    dispatch.handler_classes()[HookPoint.BUILD_INSTANCE].append(Flaky)
    Flaky.calls = []
    yield tmp_path / 'state' / 'listen-failed.jsonl'
    dispatch.reset()


def test_a_failing_handler_is_retried_until_it_succeeds(
        samples_dir: pathlib.Path, publisher: Publisher, running: Any,
        flaky: pathlib.Path) -> None:
    """Parked (acknowledged, kept in listen-retry.jsonl) and retried: the
    consumer never sleeps, and the next message is not held up."""
    Flaky.failures = 2
    listener: Running = running()
    publisher.send(notification(samples_dir, 'instance-create-end', UUID))
    wait_until(lambda: listener.stats().get('parked') == 1, what='parked')
    publisher.send(notification(samples_dir, 'instance-create-end',
                                UUID[::-1]))
    wait_until(lambda: listener.stats().get('handled') == 2, what='handled')
    # Both failed once (the next one was not held up), then succeeded.
    assert Flaky.calls == [UUID, UUID[::-1]] * 2
    assert listener.stats()['parked'] == 2
    assert not flaky.exists()
    # (The retry journal is rewritten once the due messages were tried.)
    wait_until(lambda: not (flaky.parent / 'listen-retry.jsonl').exists(),
               what='nothing left parked')


def test_a_handler_failing_every_time_is_recorded_and_dropped(
        samples_dir: pathlib.Path, publisher: Publisher, running: Any,
        flaky: pathlib.Path) -> None:
    Flaky.failures = 3  # max_attempts: the fourth call would succeed
    listener: Running = running()
    publisher.send(notification(samples_dir, 'instance-create-end', UUID))
    wait_until(lambda: listener.stats().get('failed') == 1, what='failed')
    publisher.send(notification(samples_dir, 'instance-create-end',
                                UUID[::-1]))
    wait_until(lambda: listener.stats().get('handled') == 1, what='next')
    assert Flaky.calls == [UUID] * 3 + [UUID[::-1]]
    (record,) = [json.loads(line) for line in flaky.read_text().splitlines()]
    assert (record['instance'], record['outcome'], record['attempts'],
            record['event_type']) == (UUID, 'error', 3,
                                      'instance.create.end')
    assert 'flaky:build_instance:post' in record['reason']


class Slow(NovaHook):
    """Takes a second (test-only plugin ``flaky``, like :class:`Flaky`)."""

    plugin_name = 'flaky'
    hook_point = HookPoint.BUILD_INSTANCE
    entered = threading.Event()
    finished: ClassVar[List[Optional[str]]] = []

    def handle_post(self, event: HookEvent) -> str:
        Slow.entered.set()
        time.sleep(1.0)
        Slow.finished.append(event.instance_uuid)
        return 'ok'


def test_stopping_finishes_the_message_in_flight(
        samples_dir: pathlib.Path, publisher: Publisher, running: Any,
        flaky: pathlib.Path, listen_conf: pathlib.Path,
        rabbit: RabbitServer) -> None:
    """What SIGTERM does (its handler is request_stop): the message being
    handled completes and is acknowledged, so it is not delivered again."""
    dispatch.handler_classes()[HookPoint.BUILD_INSTANCE][-1] = Slow
    Slow.entered.clear()
    Slow.finished = []
    first: Running = running()
    publisher.send(notification(samples_dir, 'instance-create-end', UUID))
    assert Slow.entered.wait(30)
    first.stop()
    assert Slow.finished == [UUID]
    assert first.stats()['handled'] == 1
    second: Running = running()
    # A message published now comes after anything the broker took back
    # from the first listener: once the second has handled it and the
    # queue holds nothing, ready or unacknowledged, a redelivery of the
    # first message would have been handled (and counted) too.
    later = UUID[::-1]
    publisher.send(notification(samples_dir, 'instance-create-end', later))
    wait_until(lambda: later in Slow.finished, what='the later message')
    wait_until(lambda: rabbit.queue(pool_of(listen_conf)) == (0, 0),
               timeout=60, what='nothing left in the queue')
    assert Slow.finished == [UUID, later]
    stats = second.stats()  # a redelivery counts, even as a duplicate
    assert (stats['handled'], stats['instance.create.end']) == (1, 1), stats


def test_a_poison_message_is_recorded_without_its_payload_and_never_blocks(
        samples_dir: pathlib.Path, publisher: Publisher, running: Any,
        tmp_path: pathlib.Path, bind: BindServer) -> None:
    listener: Running = running()
    canary = 'canary-c8a1f0-secret-metadata'
    no_uuid = notification(samples_dir, 'instance-create-end', '',
                           metadata={'password': canary})
    publisher.send(no_uuid)
    publisher.send({'event_type': 'instance.update', 'payload': canary,
                    'publisher_id': 'nova-compute:c1'})
    publisher.send(notification(samples_dir, 'instance-create-end', UUID,
                                hostname='after-poison', ips=[IP_1]))
    wait_until(lambda: listener.stats().get('handled') == 1, what='handled')
    wait_until(lambda: listener.stats().get('failed') == 2, what='failed')
    wait_until(lambda: a_records(bind, 'after-poison') == {'10.0.0.3'},
               what='A record')
    text = (tmp_path / 'state' / 'listen-failed.jsonl').read_text()
    records = [json.loads(line) for line in text.splitlines()]
    assert [(r['event_type'], r['outcome']) for r in records] == [
        ('instance.create.end', 'bad_input'),
        ('instance.update', 'bad_input')]
    assert canary not in text
    code, listed = cli('listen', 'failed', '-f', 'json')
    assert code == 0
    assert [(r['Event type'], r['Outcome'], r['Attempts'])
            for r in listed] == [
        ('instance.create.end', 'bad_input', 1),
        ('instance.update', 'bad_input', 1)]


def test_the_broker_going_away_loses_no_message(
        samples_dir: pathlib.Path, publisher: Publisher, running: Any,
        rabbit: RabbitServer, tmp_path: pathlib.Path) -> None:
    """Stopped listener, broker restart, then a restart mid-stream: every
    message published to the durable queue meanwhile is handled."""
    state = tmp_path / 'state'

    def create(index: int) -> None:
        publisher.send(notification(
            samples_dir, 'instance-create-end',
            '00000000-0000-0000-0000-%012d' % index, hostname='r%d' % index,
            ips=[(PORT_1, IP_1[1], '10.0.0.%d' % (100 + index), 4)],
            devices=[dict(KEPT, volume_id='vol-%d' % index)]))

    def instances() -> int:
        return len(rows(state, 'storage.sqlite',
                        "select uuid from storage_instances "
                        "where state = 'built'"))

    first = running()
    for index in range(5):
        create(index)
    wait_until(lambda: instances() == 5, what='5 built')
    first.stop()
    for index in range(5, 10):  # queued while no listener runs
        create(index)
    rabbit.stop()
    rabbit.start()
    second = running()
    wait_until(lambda: instances() == 10, timeout=60, what='10 built')
    rabbit.stop()   # mid-stream: the listener reconnects by itself
    rabbit.start()
    for index in range(10, 15):
        create(index)
    wait_until(lambda: instances() == 15, timeout=90, what='15 built')
    # All ten reached the second listener (the ledger's row is written
    # before the other plugins are done; a message whose ack the restart
    # lost comes again and counts again, its effects not).
    wait_until(lambda: second.stats().get('handled', 0) >= 10,
               what='10 handled by the second listener')


def _listener_process(config_file: pathlib.Path) -> 'subprocess.Popen[str]':
    env = dict(os.environ, NOVAHOOKS_CONFIG=str(config_file))
    return subprocess.Popen(
        [sys.executable, '-m', 'novahooks_core.cli.app', '-v', 'listen'],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)


def _stats(stderr: str) -> Dict[str, int]:
    found = re.findall(r'novahooks listen: stopped; (\{.*\})', stderr)
    assert found, stderr[-3000:]
    result: Dict[str, int] = json.loads(found[-1].replace("'", '"'))
    return result


def test_two_listeners_of_one_pool_share_the_work_once(
        samples_dir: pathlib.Path, publisher: Publisher,
        listen_conf: pathlib.Path, bind: BindServer, rabbit: RabbitServer,
        tmp_path: pathlib.Path) -> None:
    """Two ``novahooks listen`` processes: each message handled once, by
    one of them; SIGTERM stops both cleanly."""
    state = tmp_path / 'state'
    procs = [_listener_process(listen_conf) for _ in range(2)]
    try:
        # Both consume before anything is published: the broker then
        # deals the messages out between them.
        wait_until(lambda: consumers(rabbit.url, pool_of(listen_conf)) == 2,
                   timeout=60, what='two consumers')
        count = 40
        for index in range(count):
            publisher.send(notification(
                samples_dir, 'instance-create-end',
                '00000000-0000-0000-0000-%012d' % index,
                hostname='s%d' % index,
                ips=[('port-%d' % index, 'fa:16:3e:00:01:%02x' % index,
                      '10.0.0.%d' % (10 + index), 4)]))
        wait_until(lambda: len(rows(
            state, 'netinfo.sqlite',
            'select 1 from netinfo_events')) >= count, timeout=90,
            what='%d netinfo events' % count)
        # DNS is sent after each batch commits (a late answer is retried
        # in the background): wait for the records themselves.
        wait_until(lambda: len(a_names(bind)) >= count, timeout=90,
                   what='%d A records' % count)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        outputs = [proc.communicate(timeout=60)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    handled = [_stats(text).get('handled', 0) for text in outputs]
    assert sum(handled) == count and min(handled) > 0, handled
    assert rows(state, 'netinfo.sqlite',
                'select kind, count(*), count(distinct uuid) '
                'from netinfo_events group by kind') == [
        ('vif_added', count, count)]
    assert a_names(bind) == {'s%d.cloud.internal.' % index
                             for index in range(count)}


def a_names(bind: BindServer) -> Set[str]:
    """The names of the A records BIND serves in the test zone."""
    return {name for name, rtype, _ in bind.zone_records('cloud.internal.')
            if rtype == 'A'}


def test_error_notifications_are_consumed_too(
        samples_dir: pathlib.Path, publisher: Publisher, running: Any,
        tmp_path: pathlib.Path) -> None:
    """Priority ERROR (instance.create.error): consumed, so the error
    queue Nova's notifier declares does not grow without a consumer."""
    listener: Running = running()
    failed = notification(samples_dir, 'instance-create-error', UUID,
                          hostname='failed-boot', ips=[IP_1])
    assert failed['priority'] == 'ERROR'
    publisher.send(failed)
    wait_until(lambda: listener.stats().get('instance.create.error') == 1,
               what='the error notification handled')
    assert rows(tmp_path / 'state', 'storage.sqlite',
                'select uuid, state from storage_instances') == [
        (UUID, 'built')]


@pytest.mark.parametrize('layout', ['own pool', 'nova pool'])
def test_neutrons_notifications_are_consumed_in_either_pool_layout(
        layout: str, samples_dir: pathlib.Path, publisher: Publisher,
        running: Any, bind: BindServer, listen_conf: pathlib.Path,
        rabbit: RabbitServer, tmp_path: pathlib.Path) -> None:
    """A real Neutron's captured notifications published on the
    ``neutron`` exchange: in a queue of their own (the default
    ``neutron_pool``), or in Nova's queue (``neutron_pool = pool``, one
    listener and endpoint for both: none is dropped by the other's
    filter)."""
    from tests.listen.test_neutron import real_neutron
    pool = pool_of(listen_conf)
    neutron_pool = pool if layout == 'nova pool' else pool + '-neutron'
    text = listen_conf.read_text().replace(
        '[dns]\n', '[dns]\nfloating_template = {hostname}-public\n', 1)
    listen_conf.write_text(text + '\n[listen]\nneutron = true\n'
                           'neutron_pool = %s\n' % neutron_pool)
    config.reset()
    config.load(str(listen_conf))
    captured = real_neutron()
    port = next(m['payload']['port'] for m in captured
                if m['event_type'] == 'port.create.end')
    fip = next(m['payload']['floatingip']['floating_ip_address']
               for m in captured if m['event_type'] == 'floatingip.create.end')
    listener: Running = running()
    assert (listener.listener.neutron_server is None) == (
        layout == 'nova pool')
    neutron_bus = Publisher(rabbit.url, tmp_path, 'neutron', 'notifications')
    try:
        publisher.send(notification(
            samples_dir, 'instance-create-end', port['device_id'],
            hostname='fip-1', ips=[(port['id'], port['mac_address'],
                                    port['fixed_ips'][0]['ip_address'], 4)]))
        upto = next(i for i, m in enumerate(captured)
                    if m.get('step') == 'associate_port_1'
                    and m['event_type'] == 'floatingip.update.end')
        for message in captured[:upto + 1]:
            neutron_bus.send(message)
        wait_until(lambda: bind.query('fip-1-public.cloud.internal.', 'A')
                   == {fip}, what='the floating record')
        assert consumers(rabbit.url, neutron_pool) == 1
    finally:
        neutron_bus.close()
    stats = listener.stats()
    assert stats.get('failed', 0) == 0


class Holding(NovaHook):
    """Holds each build until released (test-only plugin ``holding``)."""

    plugin_name = 'holding'
    hook_point = HookPoint.BUILD_INSTANCE
    release: ClassVar[threading.Event] = threading.Event()

    def handle_post(self, event: HookEvent) -> str:
        Holding.release.wait(60)
        return 'ok'


def test_the_listener_knows_how_far_behind_it_is(
        samples_dir: pathlib.Path, publisher: Publisher, running: Any,
        listen_conf: pathlib.Path, bind: BindServer, rabbit: RabbitServer,
        tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture) -> None:
    """A message held longer than behind_seconds: the listener logs its lag
    at INFO and ``listen status`` (the installed command) shows it and
    exits 1; once caught up it exits 0; after the listener stopped, 1."""
    write_listen_conf(listen_conf, bind, tmp_path / 'state', rabbit.url,
                      pool_of(listen_conf), plugins='audit,holding')
    listen_conf.write_text(listen_conf.read_text().replace(
        '[listen]\n', '[listen]\nbehind_seconds = 0.5\n', 1))
    config.reset()
    config.load(str(listen_conf))
    dispatch.handler_classes()[HookPoint.BUILD_INSTANCE].append(Holding)
    Holding.release = threading.Event()
    status = [str(pathlib.Path(sys.executable).parent / 'novahooks'),
              '--config-file', str(listen_conf), 'listen', 'status',
              '-f', 'json']

    def shown() -> Any:
        done = subprocess.run(status, capture_output=True, text=True,
                              timeout=60)
        return done.returncode, json.loads(done.stdout or '[]')
    try:
        caplog.set_level('INFO', 'novahooks_core.notify.runtime')
        listener: Running = running()
        publisher.send(notification(samples_dir, 'instance-create-end',
                                    UUID))
        wait_until(lambda: 'behind the bus' in caplog.text, what='lag log')
        listener.listener.report(force=True)
        code, rows = shown()
        assert code == 1
        assert rows[0]['Behind'] == 'YES' and rows[0]['In flight'] == 1
        assert rows[0]['Lag (s)'] > 0.5 and rows[0]['Running'] == 'yes'
        Holding.release.set()
        wait_until(lambda: listener.stats().get('handled') == 1,
                   what='handled')
        listener.listener.report(force=True)
        code, rows = shown()
        assert code == 0 and rows[0]['Behind'] == 'no'
        assert rows[0]['Handled'] == 1 and rows[0]['Rate (/s)'] > 0
        listener.stop()
        code, rows = shown()
        assert code == 1 and rows == []
    finally:
        Holding.release.set()
        dispatch.reset()


def test_a_batch_handles_each_message_on_its_own(
        samples_dir: pathlib.Path, publisher: Publisher, running: Any,
        flaky: pathlib.Path, listen_conf: pathlib.Path) -> None:
    """``batch_size`` > 1 (oslo.messaging's batch listener): a failing
    message is parked alone and a poison one recorded alone; their
    batch-mates are handled once, neither redone nor requeued."""
    listen_conf.write_text(listen_conf.read_text().replace(
        '[listen]\n', '[listen]\nbatch_size = 50\nbatch_timeout = 0.5\n', 1))
    config.reset()
    config.load(str(listen_conf))
    Flaky.failures = 1
    uuids = ['00000000-0000-0000-0005-%012d' % n for n in range(6)]
    listener: Running = running()
    for n, uuid in enumerate(uuids):
        publisher.send(notification(samples_dir, 'instance-create-end', uuid))
        if n == 2:
            publisher.send({'event_type': 'instance.update',
                            'payload': 'poison',
                            'publisher_id': 'nova-compute:c1'})
    wait_until(lambda: listener.stats().get('handled') == 6, what='handled')
    # A marker after them: a requeued batch would come again before it.
    publisher.send(notification(samples_dir, 'instance-create-end',
                                UUID[::-1]))
    wait_until(lambda: listener.stats().get('handled') == 7, what='marker')
    uuids.append(UUID[::-1])
    stats = listener.stats()
    assert stats['batches'] < 8  # they came in batches
    assert stats['parked'] == 1 and stats['failed'] == 1
    # Nothing came twice: the one duplicate is audit's, which had applied
    # the parked message before its retry.
    assert stats.get('duplicate', 0) == 1
    # The first failed once and was retried alone; the others ran once.
    assert sorted(Flaky.calls) == sorted(uuids + uuids[:1])
    records = [json.loads(line) for line in flaky.read_text().splitlines()]
    assert [(r['event_type'], r['outcome']) for r in records] == [
        ('instance.update', 'bad_input')]


def test_a_batch_sends_its_dns_changes_in_one_update_per_zone(
        samples_dir: pathlib.Path, publisher: Publisher, running: Any,
        bind: BindServer, listen_conf: pathlib.Path) -> None:
    """Through the broker to BIND: the plugins' writes of a batch are one
    unit of work, and its DNS changes go once it commits, one UPDATE per
    zone (BIND's update log counts them)."""
    listen_conf.write_text(listen_conf.read_text().replace(
        '[listen]\n', '[listen]\nbatch_size = 50\nbatch_timeout = 2\n', 1))
    config.reset()
    config.load(str(listen_conf))
    listener: Running = running()
    before = bind.update_count()
    hosts = ['batch-%d' % n for n in range(8)]
    for n, host in enumerate(hosts):
        publisher.send(notification(
            samples_dir, 'instance-create-end',
            '00000000-0000-0000-0006-%012d' % n, hostname=host,
            ips=[('port-%d' % n, 'fa:16:3e:00:06:%02x' % n,
                  '10.0.0.%d' % (100 + n), 4)]))
    wait_until(lambda: listener.stats().get('handled') == len(hosts),
               what='handled')
    wait_until(lambda: all(a_records(bind, h) for h in hosts),
               what='records')
    wait_until(lambda: bind.query('100.0.0.10.in-addr.arpa.', 'PTR') == {
        'batch-0.cloud.internal.'}, what='PTR record')
    batches = listener.stats()['batches']
    sent = bind.update_count() - before
    # The forward and the reverse zone once per batch, not per message.
    assert sent <= 2 * batches < 2 * len(hosts), (sent, batches)


def test_a_backlog_stays_in_the_broker(
        samples_dir: pathlib.Path, publisher: Publisher, running: Any,
        listen_conf: pathlib.Path, bind: BindServer, rabbit: RabbitServer,
        tmp_path: pathlib.Path) -> None:
    """While the listener is busy, RabbitMQ holds the backlog: it delivers
    ten batches ahead (oslo.messaging's default prefetch, 0, would push
    all of it into the listener's memory); an operator's own
    ``rabbit_qos_prefetch_count`` is kept. The broker counts them."""
    write_listen_conf(listen_conf, bind, tmp_path / 'state', rabbit.url,
                      pool_of(listen_conf), plugins='audit,holding')
    config.reset()
    config.load(str(listen_conf))
    dispatch.handler_classes()[HookPoint.BUILD_INSTANCE].append(Holding)
    Holding.release = threading.Event()
    count = 1500
    try:
        listener: Running = running()
        for n in range(count):
            publisher.send(notification(
                samples_dir, 'instance-create-end',
                '00000000-0000-0000-0007-%012d' % n))
        queue = pool_of(listen_conf)

        def held() -> Optional[Any]:
            found = rabbit.queue(queue)
            return found if found and found[1] and sum(found) == count \
                else None
        ready, unacknowledged = wait_until(held, what='the backlog queued')
        assert unacknowledged <= 10 * 100  # ten batches of batch_size
        assert ready >= count - 10 * 100
        Holding.release.set()
        wait_until(lambda: listener.stats().get('handled') == count,
                   timeout=120, what='the backlog handled')
    finally:
        Holding.release.set()
        dispatch.reset()
    from oslo_config import cfg

    from novahooks_core.notify.runtime import bound_prefetch
    own = tmp_path / 'own-prefetch.conf'
    own.write_text('[oslo_messaging_rabbit]\nrabbit_qos_prefetch_count = 7\n')
    for files, expected in (([], 1000), ([str(own)], 7)):
        conf = cfg.ConfigOpts()
        conf(args=[], default_config_files=files)
        bound_prefetch(conf, 100)
        assert conf.oslo_messaging_rabbit.rabbit_qos_prefetch_count == \
            expected
