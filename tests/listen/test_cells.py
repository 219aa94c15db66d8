"""One ``novahooks listen`` consuming several buses (``[listen]
transport_urls``: one per cell whose computes notify on their own cell's
broker), against two real RabbitMQ brokers: one endpoint and order guard
for all, so an instance whose notifications come some by one bus and some
by the other (one of them by both) ends as if all came by one; each bus
connected to, said, retried, stopped and checked on its own."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence
import uuid as uuid_module

import pytest

from novahooks_core.notify.options import configured
from novahooks_core.notify.runtime import (
    CONNECT_WARNING_SECONDS,
    STOP_SECONDS,
    Listener,
)
from novahooks_core.notify.transport import bus_urls
from tests.conftest import WriteConfig
from tests.listen.conftest import Running, consumers, wait_until
from tests.listen.test_order import (
    Story,
    _reset,
    configure,
    end_state,
    history,
    lifecycle,
)
from tests.rabbit import (
    PASSWORD,
    TOPIC,
    USER,
    RabbitServer,
    nova_conf,
    rabbit,  # noqa: F401
)
from tests.servers import free_tcp_port

NOVAHOOKS = str(pathlib.Path(sys.executable).parent / 'novahooks')
CANARY = 'CanaryCellPw'
GUEST = '%s:%s@' % (USER, PASSWORD)
Message = Dict[str, Any]


@pytest.fixture(scope='module')
def cell2() -> Iterator[RabbitServer]:
    """A second broker (the session's ``rabbit`` is cell 1's)."""
    server = RabbitServer.temporary()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture(autouse=True)
def _fresh_services() -> Iterator[None]:
    _reset()
    yield
    _reset()


@pytest.fixture
def pool() -> str:
    """This test's listener pool: its queue on every broker."""
    return 'novahooks-cells-%s' % uuid_module.uuid4().hex[:8]


def listen_section(urls: Sequence[str], pool: str) -> str:
    """``[listen]`` on ``urls`` (one: ``transport_url``, as before cells;
    several: a ``transport_urls`` line each), and quick reconnects."""
    buses = ('transport_url = %s\n' % urls[0] if len(urls) == 1 else
             ''.join('transport_urls = %s\n' % url for url in urls))
    return ('[listen]\n%spool = %s\nretry_delay = 0.1\n\n'
            '[oslo_messaging_rabbit]\namqp_durable_queues = true\n'
            'rabbit_retry_interval = 1\nrabbit_retry_backoff = 1\n'
            'rabbit_interval_max = 2\n' % (buses, pool))


class Cell:
    """Nova's side of one cell's bus: its notifier's driver (messagingv2,
    the ``nova`` exchange), sending a message with its own message id and
    timestamp, so that the same message can be sent by two buses."""

    def __init__(self, url: str, directory: pathlib.Path) -> None:
        import oslo_messaging
        from oslo_messaging.notify import messaging
        directory.mkdir(parents=True, exist_ok=True)
        self.conf = nova_conf(directory)
        self.transport = oslo_messaging.get_notification_transport(
            self.conf, url=url)
        self.driver = messaging.MessagingV2Driver(
            self.conf, topics=[TOPIC], transport=self.transport)
        self.sent = 0

    def send(self, message: Message) -> None:
        self.driver.notify({'request_id': 'req-cells'}, {
            'message_id': message['metadata']['message_id'],
            'publisher_id': message['publisher_id'],
            'event_type': message['event_type'], 'priority': 'INFO',
            'payload': message['payload'],
            'timestamp': message['metadata']['timestamp']}, 'INFO', -1)
        self.sent += 1

    def close(self) -> None:
        self.transport.cleanup()


def cells(urls: Sequence[str], directory: pathlib.Path) -> List[Cell]:
    return [Cell(url, directory / ('cell%d' % n))
            for n, url in enumerate(urls, 1)]


def handled(listener: Running, count: int) -> None:
    """Wait until ``count`` messages were handled and their batches
    committed (a message is counted before its batch commits)."""
    wait_until(lambda: listener.stats().get('handled', 0) >= count
               and not listener.listener.endpoint.in_flight,
               timeout=60, what='%d handled' % count)


def consumed(write_config: WriteConfig, state: pathlib.Path,
             urls: Sequence[str], pool: str,
             feed: Callable[[Running], None]) -> Dict[str, Any]:
    """A listener on ``urls`` into ``state``, fed by ``feed``: the end
    state, the netinfo history, its status, and what it counted."""
    configure(write_config, state, extra=listen_section(urls, pool))
    listener = Running()
    try:
        feed(listener)
        # A message parked meanwhile (a database lock waited for too
        # long) was handled once retried; its journal is rewritten after.
        wait_until(lambda: not (state / 'listen-retry.jsonl').exists(),
                   what='nothing left parked')
        found = {'end': end_state(None, state),
                 'history': history(None, state),
                 'status': listener.listener.status(),
                 'stats': listener.stats()}
    finally:
        listener.stop()
    _reset()
    return found


def test_transport_urls_one_line_per_bus(
        write_config: WriteConfig, caplog: pytest.LogCaptureFixture) -> None:
    """A line is one URL (a clustered broker's hosts stay in it), each
    bus once; without the option, transport_url alone, as before. A
    transport_url set beside them is said not to be consumed."""
    write_config(extra='[listen]\ntransport_url = rabbit://a:pa@h0:5672/\n')
    assert bus_urls(configured().listen) == ['rabbit://a:pa@h0:5672/']
    cluster = 'rabbit://a:pa@h1:5672,a:pa@h2:5672/'
    write_config(extra='[listen]\ntransport_url = rabbit://a:pa@h0:5672/\n'
                 'transport_urls = %s\ntransport_urls = rabbit://b:pb@h3/\n'
                 'transport_urls = %s\n' % (cluster, cluster))
    assert bus_urls(configured().listen) == [cluster, 'rabbit://b:pb@h3/']
    listener = Listener()  # (oslo.messaging connects only when started)
    try:
        assert [bus.shown for bus in listener.buses] == [
            'rabbit://a:***@h1:5672,a:***@h2:5672/', 'rabbit://b:***@h3/']
    finally:
        for bus in listener.buses:
            bus.transport.cleanup()
    assert 'transport_url rabbit://a:***@h0:5672/ is not consumed' in \
        caplog.text
    assert 'pa@' not in caplog.text


def test_an_instance_split_between_two_cells_buses_ends_as_on_one(
        samples_dir: pathlib.Path, write_config: WriteConfig,
        rabbit: RabbitServer, cell2: RabbitServer,  # noqa: F811
        tmp_path: pathlib.Path, pool: str) -> None:
    """Two instances' notifications (boot, interface attach and detach,
    update; one deleted), in order: all by one bus, into one state; then
    by two buses in turn, the attach by both, into another. The same DNS
    records (hosts file and applied), ledger, network view and netinfo
    history, each effect once; each bus counted what it delivered."""
    story = Story(samples_dir)
    lifecycle(story, 1, delete=False)
    lifecycle(story, 2, delete=True)
    urls = [rabbit.url, cell2.url]
    buses = cells(urls, tmp_path)
    twice = [m for m in story.messages
             if m['event_type'] == 'instance.interface_attach.end'][0]
    try:
        def all_by_one(listener: Running) -> None:
            for n, message in enumerate(story.messages, 1):
                buses[0].send(message)
                handled(listener, n)

        def split(listener: Running) -> None:
            count = 0
            for n, message in enumerate(story.messages):
                targets = buses if message is twice else [buses[n % 2]]
                for bus in targets:
                    bus.send(message)
                count += len(targets)
                handled(listener, count)

        one = consumed(write_config, tmp_path / 'one', urls[:1], pool,
                       all_by_one)
        sent_before = [bus.sent for bus in buses]
        two = consumed(write_config, tmp_path / 'two', urls, pool + '-2',
                       split)
    finally:
        for bus in buses:
            bus.close()
    assert one['end']['failed'] == [] and one['end']['parked'] == []
    assert one['end']['hosts'] == ['10.0.0.3 i1.cloud.internal']
    assert ('00000000-0000-0000-0001-000000000001', 'vif_removed',
            '00000000-0000-0000-0009-000000000003') in one['history']
    assert two['end'] == one['end']
    assert two['history'] == one['history']
    assert len(set(two['history'])) == len(two['history'])
    assert two['stats'].get('duplicate', 0) >= 1
    assert two['stats']['handled'] == len(story.messages) + 1
    assert [(b['url'], b['consuming'], b['received'])
            for b in two['status']['buses']] == [
        (url.replace(GUEST, '%s:***@' % USER), True, bus.sent - before)
        for url, bus, before in zip(urls, buses, sent_before)]
    assert one['status']['buses'] == [
        {'url': urls[0].replace(GUEST, '%s:***@' % USER),
         'consuming': True, 'connected': True,
         'received': len(story.messages)}]


def test_every_message_by_both_buses_takes_effect_once(
        samples_dir: pathlib.Path, write_config: WriteConfig,
        rabbit: RabbitServer, cell2: RabbitServer,  # noqa: F811
        tmp_path: pathlib.Path, pool: str) -> None:
    """A duplicate route: four instances' notifications, all sent at once
    by both buses (consumed at once by the two servers): the end state and
    history of the same sent by one bus, nothing applied twice."""
    story = Story(samples_dir)
    for n in range(1, 5):
        lifecycle(story, n, delete=n % 2 == 0)
    urls = [rabbit.url, cell2.url]
    buses = cells(urls, tmp_path)
    total = len(story.messages)
    try:
        def by(chosen: List[Cell], listener: Running) -> None:
            for message in story.messages:
                for bus in chosen:
                    bus.send(message)
            handled(listener, total * len(chosen))

        one = consumed(write_config, tmp_path / 'one', urls[:1], pool,
                       lambda listener: by(buses[:1], listener))
        both = consumed(write_config, tmp_path / 'both', urls, pool + '-2',
                        lambda listener: by(buses, listener))
    finally:
        for bus in buses:
            bus.close()
    assert one['end']['failed'] == [] and len(one['end']['hosts']) == 2
    assert both['end'] == one['end']
    assert both['history'] == one['history']
    assert both['stats']['handled'] == 2 * total
    assert both['stats'].get('duplicate', 0) >= 1
    assert [b['received'] for b in both['status']['buses']] == [total] * 2


def test_stopping_the_listener_stops_every_bus(
        write_config: WriteConfig, rabbit: RabbitServer,  # noqa: F811
        cell2: RabbitServer, tmp_path: pathlib.Path, pool: str) -> None:
    configure(write_config, tmp_path / 'state',
              extra=listen_section([rabbit.url, cell2.url], pool))
    listener = Running()
    for server in (rabbit, cell2):
        wait_until(lambda url=server.url: consumers(url, pool) == 1,
                   what='consuming %s' % server.url)
    asked = time.monotonic()
    listener.stop()
    assert time.monotonic() - asked < STOP_SECONDS
    for server in (rabbit, cell2):
        assert consumers(server.url, pool) == 0
    assert not [t for t in threading.enumerate()
                if t.name == 'novahooks-listen-connect']


class Started:
    """A listener run in a thread, not waited for (a bus is down)."""

    def __init__(self) -> None:
        self.listener = Listener()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.listener.run,
                                       args=(self.ready,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.listener.request_stop()
        self.thread.join(60)
        assert not self.thread.is_alive()


def bus_metrics(listener: Listener) -> Dict[str, Dict[str, float]]:
    """The per-bus metrics: {family: {bus: value}}."""
    found: Dict[str, Dict[str, float]] = {}
    for family in listener.families():
        for sample in family.samples:
            if 'bus' in sample.labels:
                found.setdefault(sample.name, {})[
                    sample.labels['bus']] = sample.value
    return found


def test_a_cells_broker_down_at_start_is_said_and_retried(
        samples_dir: pathlib.Path, write_config: WriteConfig,
        rabbit: RabbitServer, cell2: RabbitServer,  # noqa: F811
        tmp_path: pathlib.Path, pool: str,
        caplog: pytest.LogCaptureFixture) -> None:
    """Cell 2's broker is down when the listener starts (listed first, so
    that connecting to the buses in turn would never reach cell 1's):
    cell 1's bus is consumed meanwhile; cell 2's is said at WARNING (its
    password masked) and in the status and metrics, and consumed once its
    broker is up."""
    caplog.set_level('INFO', 'novahooks_core.notify.runtime')
    story = Story(samples_dir)
    lifecycle(story, 1, delete=False)
    lifecycle(story, 2, delete=False)
    first, second = story.messages[1], story.messages[6]
    assert first['event_type'] == second['event_type'] == \
        'instance.create.end'
    down, up = cell2, rabbit
    configure(write_config, tmp_path / 'state',
              extra=listen_section([down.url, up.url], pool))
    shown_down, shown_up = [url.replace(GUEST, '%s:***@' % USER)
                            for url in (down.url, up.url)]
    down.stop()
    started: Optional[Started] = None
    to_down, to_up = cells([down.url, up.url], tmp_path)
    try:
        started = Started()
        listener = started.listener
        wait_until(lambda: consumers(up.url, pool) == 1,
                   what='cell 1 consumed')
        to_up.send(first)
        wait_until(lambda: listener.stats.snapshot().get('handled') == 1,
                   what='cell 1\'s message handled')
        wait_until(lambda: 'cannot reach the broker at %s' % shown_down
                   in caplog.text, timeout=CONNECT_WARNING_SECONDS + 30,
                   what='the WARNING')
        assert not started.ready.is_set()
        assert [(b['url'], b['consuming'], b['connected'])
                for b in listener.status()['buses']] == [
            (shown_down, False, False), (shown_up, True, True)]
        assert listener.status()['connected'] is False
        assert bus_metrics(listener)['novahooks_listen_bus_consuming'] == {
            shown_down: 0.0, shown_up: 1.0}
        assert bus_metrics(listener)['novahooks_listen_bus_connected'] == {
            shown_down: 0.0, shown_up: 1.0}
        down.start()
        assert started.ready.wait(60), 'cell 2 not consumed'
        wait_until(lambda: consumers(down.url, pool) == 1,
                   what='cell 2 consumed')
        to_down.send(second)
        wait_until(lambda: listener.stats.snapshot().get('handled') == 2,
                   what='cell 2\'s message handled')
        assert 'reached the broker at %s' % shown_down in caplog.text
        assert listener.status()['connected'] is True
        assert bus_metrics(listener)['novahooks_listen_bus_messages_total'] \
            == {shown_down: 1.0, shown_up: 1.0}
        started.stop()
        assert consumers(up.url, pool) == consumers(down.url, pool) == 0
    finally:
        if started is not None and started.thread.is_alive():
            started.stop()
        to_down.close()
        to_up.close()
        down.start()
    assert GUEST not in caplog.text
    warnings = [r for r in caplog.records if r.levelname == 'WARNING'
                and r.name == 'novahooks_core.notify.runtime']
    assert warnings and all(shown_down in r.getMessage() for r in warnings)
    assert end_state(None, tmp_path / 'state')['hosts'] == [
        '10.0.0.3 i1.cloud.internal', '10.0.0.5 i2.cloud.internal']


def test_sigterm_with_a_cells_broker_unreachable(
        write_config: WriteConfig, rabbit: RabbitServer,  # noqa: F811
        tmp_path: pathlib.Path, pool: str) -> None:
    """The installed command: the reachable bus is consumed, the other
    (listed first) said, its password masked, until SIGTERM, which stops
    both within STOP_SECONDS."""
    port = free_tcp_port()  # nothing listens there
    dead = 'rabbit://cell2:%s@127.0.0.1:%d/' % (CANARY, port)
    path = write_config(enabled_plugins='audit', state_dir=tmp_path / 'st',
                        extra=listen_section([dead, rabbit.url], pool))
    proc = subprocess.Popen(
        [NOVAHOOKS, 'listen'], env=dict(os.environ,
                                        NOVAHOOKS_CONFIG=str(path)),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        seen = ''
        deadline = time.monotonic() + 30
        while 'cannot reach the broker' not in seen:
            assert time.monotonic() < deadline, seen
            seen += proc.stderr.readline()
        assert consumers(rabbit.url, pool) == 1
        asked = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - asked
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    printed = seen + out + err
    assert proc.returncode == 0, printed
    assert took < STOP_SECONDS, (took, printed)
    shown = 'rabbit://cell2:***@127.0.0.1:%d/' % port
    assert 'cannot reach the broker at %s' % shown in printed
    assert 'stopped before the broker at %s' % shown in printed
    assert CANARY not in printed
    assert consumers(rabbit.url, pool) == 0


def check(tmp_path: pathlib.Path, urls: Sequence[str]
          ) -> List[Dict[str, Any]]:
    """``novahooks check -f json`` (the module, in a process of its own)
    with these ``transport_urls``: the rows of ``[listen]``."""
    path = tmp_path / 'check.conf'
    path.write_text('[DEFAULT]\nenabled_plugins = audit\nstate_dir = %s\n'
                    '[listen]\n%s' % (tmp_path, ''.join(
                        'transport_urls = %s\n' % url for url in urls)))
    result = subprocess.run(
        [sys.executable, '-m', 'novahooks_core.cli.app', '--config-file',
         str(path), 'check', '-f', 'json'],
        capture_output=True, text=True, timeout=120)
    rows = json.loads(result.stdout)
    assert result.returncode == (0 if all(r['OK'] == 'yes' for r in rows)
                                 else 1)
    assert CANARY not in result.stdout + result.stderr
    return [r for r in rows if r['Plugin'] == 'listen']


def test_check_logs_in_to_every_cells_bus(
        rabbit: RabbitServer, cell2: RabbitServer,  # noqa: F811
        tmp_path: pathlib.Path) -> None:
    rows = check(tmp_path, [rabbit.url, cell2.url])
    assert [(r['Check'], r['OK']) for r in rows] == [
        ('transport 1', 'yes'), ('transport 2', 'yes')]
    for row, server in zip(rows, (rabbit, cell2)):
        # (guest's password is guest: both are masked.)
        assert ':***@127.0.0.1:%d/' % server.port in row['Detail']
        assert 'answers' in row['Detail'] and GUEST not in row['Detail']
    refused = 'rabbit://guest:%s@127.0.0.1:%d/' % (CANARY, cell2.port)
    rows = check(tmp_path, [rabbit.url, refused])
    assert [(r['Check'], r['OK']) for r in rows] == [
        ('transport 1', 'yes'), ('transport 2', 'NO')]
    assert '127.0.0.1:%d' % cell2.port in rows[1]['Detail']
