"""The listener under the bus's real semantics (at least once, out of
order, several consumers), through its endpoint with the real plugins:
DNS on a hosts file, storage and netinfo on SQLite or PostgreSQL, the
order guard on the same database. Nova 34's own samples, made about our
instances (the broker path is tested in test_listen.py; real Nova 34
notifications in nova_tier/nova34)."""

import datetime
import json
import pathlib
import random
import threading
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple
import uuid as uuid_module

import pytest
import sqlalchemy as sa

from novahooks_core import config
from novahooks_core.containment import timing
from novahooks_core.hooks import dispatch
from novahooks_core.notify import guard as guard_module
from novahooks_core.notify import mapping
from novahooks_core.notify.endpoint import NotificationEndpoint
from novahooks_core.notify.options import OPTS
from novahooks_core.notify.parking import failed_journal
from novahooks_core.state import db
from novahooks_core.testing import NovaRunner, factories, samples
from novahooks_dns import service as dns_service
from novahooks_netinfo import service as netinfo_service
from novahooks_storage import service as storage_service
from tests.conftest import WriteConfig, cli
from tests.listen.conftest import rows, wait_until
from tests.pg import PostgresServer, postgres  # noqa: F401

SERVICES = (dns_service, netinfo_service, storage_service)
START = datetime.datetime(2026, 11, 30, 12, 0, 0)
Message = Dict[str, Any]


@pytest.fixture(scope='module')
def samples_dir() -> pathlib.Path:
    return samples.fetch()


def _reset() -> None:
    for service in SERVICES:
        service.reset()
    db.reset()
    dispatch.reset()


@pytest.fixture(autouse=True)
def _fresh_services() -> Iterator[None]:
    _reset()
    yield
    _reset()


def configure(write_config: WriteConfig, state: pathlib.Path,
              url: Optional[str] = None, extra: str = '') -> pathlib.Path:
    """DNS (hosts file, floating records), storage, netinfo and the order
    guard in ``state``, on SQLite, or all on the database at ``url``
    (``extra``: more configuration)."""
    urls = ''.join('[%s]\ndatabase_url = %s\n' % (group, url)
                   for group in ('dns', 'storage', 'netinfo', 'listen')
                   ) if url else ''
    path = write_config(
        enabled_plugins='audit,dns,storage,netinfo', state_dir=state,
        extra='[dns]\nzone = cloud.internal.\n'
              'floating_template = {hostname}-public\n'
              '[dns_hostsfile]\npath = %s\n' % (state / 'dns.hosts')
              + urls + extra)
    _reset()
    return path


def fresh_database(database: str, request: pytest.FixtureRequest
                   ) -> Optional[str]:
    """``None`` for SQLite in the state dir, or the session's PostgreSQL
    emptied."""
    if database == 'sqlite':
        return None
    server: PostgresServer = request.getfixturevalue('postgres')
    server.reset()
    return server.url


def endpoint() -> NotificationEndpoint:
    return NotificationEndpoint(config.register_plugin_opts('listen', OPTS),
                                failed_journal())


def feed(target: NotificationEndpoint, message: Message) -> None:
    target.info({}, message['publisher_id'], message['event_type'],
                message['payload'], message['metadata'])


def settle(target: NotificationEndpoint) -> None:
    """What the listener's retrier does: retry parked messages (a lock
    waited for too long, say) until none is left."""
    target.retry_delay = 0.0
    for _ in range(50):
        if not target.retry_due():
            return
    raise AssertionError('messages still parked')


class Story:
    """Notifications about instances, each stamped as Nova would: the
    instance's ``updated_at`` and the envelope's timestamp move on."""

    def __init__(self, directory: pathlib.Path) -> None:
        self.directory = directory
        self.clock = START
        self.messages: List[Message] = []

    def say(self, name: str, uuid: str, hostname: str,
            ips: Sequence[Tuple[str, str, str, int]] = (),
            devices: Sequence[Dict[str, Any]] = (), **fields: Any
            ) -> Message:
        self.clock += datetime.timedelta(seconds=1)
        found = samples.notification(
            self.directory, name, uuid, hostname=hostname, ips=ips,
            devices=devices, updated_at=self.clock.isoformat() + 'Z',
            **fields)
        found['metadata'] = {
            'message_id': str(uuid_module.uuid4()),
            'timestamp': (self.clock + datetime.timedelta(
                milliseconds=5)).isoformat()}
        self.messages.append(found)
        return found


def port(n: int) -> Tuple[str, str, str, int]:
    return ('00000000-0000-0000-0009-%012d' % n,
            'fa:16:3e:00:%02x:%02x' % (n // 256, n % 256),
            '10.0.%d.%d' % (n // 250, n % 250 + 1), 4)


def lifecycle(story: Story, n: int, delete: bool) -> str:
    """A boot, an interface attach and detach, and maybe a delete."""
    uuid = '00000000-0000-0000-0001-%012d' % n
    name = 'i%d' % n
    volume = dict(volume_id='vol-%d' % n, boot_index=0,
                  delete_on_termination=False, device_name='/dev/vda')
    one, two = port(2 * n), port(2 * n + 1)
    story.say('instance-update', uuid, name, state='building',
              task_state='spawning')
    story.say('instance-create-end', uuid, name, [one], [volume])
    story.say('instance-interface_attach-end', uuid, name, [one, two],
              [volume])
    story.say('instance-interface_detach-end', uuid, name, [one], [volume])
    story.say('instance-update', uuid, name, [one], [volume])
    if delete:
        story.say('instance-shutdown-end', uuid, name, [], [volume],
                  state='active', task_state='deleting')
        story.say('instance-delete-end', uuid, name, [], [volume],
                  state='deleted')
    return uuid


def end_state(url: Optional[str], state: pathlib.Path) -> Dict[str, Any]:
    """What the plugins hold: DNS records (hosts file and applied state),
    ledger instances and volume fates, netinfo's current view, and what
    failed."""
    def query(database: str, text: str) -> List[Any]:
        if url is None:
            return sorted(rows(state, database, text))
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                return sorted(tuple(r) for r in conn.execute(sa.text(text)))
        finally:
            engine.dispose()
    # What a slow send left to the background sender goes out first: the
    # state is read once the outbox is empty. A flush alone is not enough:
    # it leaves alone what the background sender has claimed and is
    # still sending.
    sender = dns_service.service().sender
    wait_until(lambda: sender.flush().done, timeout=60,
               what='DNS\'s outbox sent')
    hosts = state / 'dns.hosts'
    current = {}
    for uuid, network in query('netinfo.sqlite', 'select uuid, network_json'
                               ' from netinfo_state'):
        current[uuid] = sorted(
            (v['id'], ip['address']) for v in json.loads(network)['vifs']
            for s in v['subnets'] for ip in s['ips'])
    return {
        'hosts': sorted(line for line in hosts.read_text().splitlines()
                        if line and not line.startswith('#'))
        if hosts.exists() else [],
        'dns': query('dns.sqlite', 'select instance_uuid, name, rtype, value'
                     ' from dns_applied'),
        'instances': query('storage.sqlite', 'select uuid, state from '
                           'storage_instances'),
        'volumes': query('storage.sqlite', 'select volume_id, '
                         'instance_uuid, fate from storage_volumes'),
        'netinfo': current,
        'failed': failed_journal().records(),
        'parked': [line for line in (
            (state / 'listen-retry.jsonl').read_text().splitlines()
            if (state / 'listen-retry.jsonl').exists() else [])],
    }


def history(url: Optional[str], state: pathlib.Path) -> List[Any]:
    if url is None:
        return sorted(rows(state, 'netinfo.sqlite',
                           'select uuid, kind, vif_id from netinfo_events'))
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return sorted(tuple(r) for r in conn.execute(sa.text(
                'select uuid, kind, vif_id from netinfo_events')))
    finally:
        engine.dispose()


def test_order_keys_and_verdicts() -> None:
    """The guard's decision, a pure function."""
    Mark = guard_module.Mark
    earlier, later = START, START + datetime.timedelta(seconds=1)

    def note(updated: Optional[datetime.datetime],
             sent: Optional[datetime.datetime], message_id: str = 'm-2',
             event_type: str = 'instance.update') -> mapping.Notification:
        return mapping.Notification(event_type, 'u', updated, sent,
                                    message_id, ())
    verdict = guard_module.verdict
    V = guard_module.Verdict
    mark = Mark(later, later, 'm-1')
    assert verdict(None, note(earlier, earlier)) is V.RUN
    assert verdict(mark, note(later, later, 'm-1')) is V.DUPLICATE
    assert verdict(mark, note(earlier, later)) is V.STALE
    assert verdict(mark, note(later, earlier)) is V.STALE  # same updated_at
    assert verdict(mark, note(later, later)) is V.RUN  # as new: applied
    assert verdict(mark, note(None, later)) is V.STALE
    deleted = Mark(earlier, earlier, 'm-1', deleted_at=later)
    assert verdict(deleted, note(later, later)) is V.DELETED
    assert verdict(None, note(later, later), deleted=True) is V.DELETED


def _note(updated: Optional[datetime.datetime],
          sent: Optional[datetime.datetime],
          message_id: str) -> mapping.Notification:
    return mapping.Notification('instance.update', 'u', updated, sent,
                                message_id, ())


def test_updated_at_outranks_the_envelope_timestamp() -> None:
    """The payload's ``updated_at`` decides; the envelope's timestamp only
    breaks a tie. A notification about a newer state of the instance that
    was sent earlier (the publisher's clock behind another's, or held in a
    queue) is applied over one about an older state sent later, and the
    other way round the later-sent older state is stale."""
    Mark, V = guard_module.Mark, guard_module.Verdict
    verdict, order = guard_module.verdict, guard_module.order
    t1, t2, t3 = (START + datetime.timedelta(seconds=n) for n in (1, 2, 3))
    assert order(t2, t1) > order(t1, t2)
    assert order(t2, t1) > order(t1, t3)  # not the sum of the two either
    assert order(t1, t2) > order(t1, t1)  # updated_at ties: sent_at decides
    assert order(t1, None) > order(None, t3)
    # Newer by updated_at, sent earlier: applied over the older state.
    assert verdict(Mark(t1, t2, 'm-old'), _note(t2, t1, 'm-new')) is V.RUN
    # Older by updated_at, sent later: stale behind the newer state.
    assert verdict(Mark(t2, t1, 'm-new'), _note(t1, t2, 'm-old')) is \
        V.STALE
    # With no updated_at (a payload without it), the envelope is all
    # there is, and it ranks below any known updated_at.
    assert verdict(Mark(None, t1, 'm-1'), _note(None, t2, 'm-2')) is V.RUN
    assert verdict(Mark(t1, t1, 'm-1'), _note(None, t3, 'm-2')) is V.STALE


def _stamped(samples_dir: pathlib.Path, uuid: str, hostname: str,
             ip: Tuple[str, str, str, int], updated: datetime.datetime,
             sent: datetime.datetime) -> Message:
    """An ``instance.update`` about ``uuid`` at ``ip``, its payload's
    ``updated_at`` and its envelope's timestamp set apart."""
    found = samples.notification(samples_dir, 'instance-update', uuid,
                                 hostname=hostname, ips=[ip],
                                 updated_at=updated.isoformat() + 'Z')
    found['metadata'] = {'message_id': str(uuid_module.uuid4()),
                         'timestamp': sent.isoformat()}
    return found


@pytest.mark.parametrize('newer_arrives', ['second', 'first'])
def test_the_newer_state_wins_whichever_was_sent_first(
        newer_arrives: str, samples_dir: pathlib.Path,
        write_config: WriteConfig, tmp_path: pathlib.Path) -> None:
    """Through the endpoint with the real plugins, two updates of one
    instance: the older state (updated_at t1) sent at t2, the newer one
    (updated_at t2) sent at t1. Arriving second, the newer one is applied;
    arriving first, it stays and the older one is skipped as stale."""
    state = tmp_path / 'state'
    configure(write_config, state)
    t1, t2 = START + datetime.timedelta(seconds=1), \
        START + datetime.timedelta(seconds=2)
    uuid = '00000000-0000-0000-0005-000000000001'
    old, new = port(301), port(302)
    older = _stamped(samples_dir, uuid, 'web', old, updated=t1, sent=t2)
    newer = _stamped(samples_dir, uuid, 'web', new, updated=t2, sent=t1)
    target = endpoint()
    for message in ((older, newer) if newer_arrives == 'second'
                    else (newer, older)):
        feed(target, message)
    found = end_state(None, state)
    assert found['hosts'] == ['%s web.cloud.internal' % new[2]]
    assert found['netinfo'] == {uuid: [(new[0], new[2])]}
    assert found['failed'] == []
    stats = target.stats.snapshot()
    assert stats['handled'] == 2
    if newer_arrives == 'second':
        assert stats.get('stale', 0) == 0
    else:
        assert stats['stale'] >= 1


def test_a_create_requeued_behind_its_delete_leaves_nothing(
        samples_dir: pathlib.Path, write_config: WriteConfig,
        tmp_path: pathlib.Path) -> None:
    state = tmp_path / 'state'
    configure(write_config, state)
    story = Story(samples_dir)
    uuid = lifecycle(story, 1, delete=True)
    target = endpoint()
    create = [m for m in story.messages
              if m['event_type'] == 'instance.create.end'][0]
    for message in story.messages:
        if message is not create:
            feed(target, message)
    feed(target, create)  # redelivered after a requeue: the latest
    found = end_state(None, state)
    assert found['hosts'] == [] and found['dns'] == []
    assert found['instances'] == [(uuid, 'deleted')]
    assert found['netinfo'] == {uuid: []} or found['netinfo'] == {}
    assert found['failed'] == []
    assert target.stats.snapshot()['deleted'] >= 3  # every plugin said so


def test_a_redelivered_message_has_no_second_effect(
        samples_dir: pathlib.Path, write_config: WriteConfig,
        tmp_path: pathlib.Path) -> None:
    state = tmp_path / 'state'
    configure(write_config, state)
    story = Story(samples_dir)
    uuid = lifecycle(story, 2, delete=False)
    target = endpoint()
    for message in story.messages:
        feed(target, message)
        feed(target, message)  # at least once: here, twice
    assert history(None, state) == sorted([
        (uuid, 'vif_added', port(4)[0]), (uuid, 'vif_added', port(5)[0]),
        (uuid, 'vif_removed', port(5)[0])])
    assert end_state(None, state)['hosts'] == ['10.0.0.5 i2.cloud.internal']
    assert target.stats.snapshot()['duplicate'] >= len(story.messages)


def _shuffled_with_duplicates(messages: List[Message],
                              seed: int) -> List[Message]:
    chosen = random.Random(seed)
    again = [m for m in messages if chosen.random() < 0.3]
    mixed = messages + again
    chosen.shuffle(mixed)
    return mixed


@pytest.mark.parametrize('database', ['sqlite', 'postgresql'])
def test_shuffled_duplicated_and_split_gives_the_same_end_state(
        database: str, samples_dir: pathlib.Path, write_config: WriteConfig,
        tmp_path: pathlib.Path, request: pytest.FixtureRequest) -> None:
    """In order, into one state; shuffled with duplicates, and (on
    PostgreSQL) split between two endpoints working at once, into
    another: the same records, ledger, network view, nothing failed."""
    story = Story(samples_dir)
    for n in range(1, 7):
        lifecycle(story, n, delete=n % 2 == 0)
    url = fresh_database(database, request)
    ordered_state = tmp_path / 'ordered'
    configure(write_config, ordered_state, url)
    target = endpoint()
    for message in story.messages:
        feed(target, message)
    in_order = end_state(url, ordered_state)
    assert in_order['failed'] == []
    assert len(in_order['hosts']) == 3  # the three live instances
    in_order_history = history(url, ordered_state)

    url = fresh_database(database, request)
    mixed_state = tmp_path / 'mixed'
    configure(write_config, mixed_state, url)
    mixed = _shuffled_with_duplicates(story.messages, seed=7)
    if database == 'postgresql':
        halves = [mixed[0::2], mixed[1::2]]
        targets = [endpoint(), endpoint()]
        threads = [threading.Thread(target=lambda t=t, h=h: [
            feed(t, m) for m in h]) for t, h in zip(targets, halves)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        for target in targets:
            settle(target)
    else:
        target = endpoint()
        for message in mixed:
            feed(target, message)
    assert end_state(url, mixed_state) == in_order
    # Nothing recorded twice (a duplicate or stale message added nothing).
    mixed_history = history(url, mixed_state)
    assert len(mixed_history) == len(set(mixed_history))
    assert set(mixed_history) <= set(in_order_history)
    assert timing.snapshot() and not [
        name for name, stats in timing.snapshot().items() if stats.errors]


def test_a_notification_never_erases_what_it_cannot_see(
        samples_dir: pathlib.Path, write_config: WriteConfig,
        tmp_path: pathlib.Path) -> None:
    """The upgrade path: state built by hooks (with a floating IP and real
    network ids), then the same instance's notifications (which carry
    neither): the floating record stays, netinfo sees no change."""
    state = tmp_path / 'state'
    configure(write_config, state)
    runner = NovaRunner()
    address = '10.0.0.77'
    inst = factories.instance(
        state='active', host='c1', hostname='web', network=(
            factories.network_info(factories.vif(
                address, port_id='port-up', mac='fa:16:3e:00:00:77',
                floating=['172.24.4.77']))))
    args, _ = factories.build_instance_args(inst)
    runner.call('build_instance', lambda *a: 'active', *args)
    before = end_state(None, state)
    assert before['hosts'] == ['10.0.0.77 web.cloud.internal',
                               '172.24.4.77 web-public.cloud.internal']
    history_before = history(None, state)
    _reset()
    story = Story(samples_dir)
    ip = ('port-up', 'fa:16:3e:00:00:77', address, 4)
    story.say('instance-update', inst.uuid, 'web', [ip])
    story.say('instance-interface_attach-end', inst.uuid, 'web', [ip])
    target = endpoint()
    for message in story.messages:
        feed(target, message)
    after = end_state(None, state)
    assert after['hosts'] == before['hosts']
    assert history(None, state) == history_before  # no spurious event
    code, rows_ = cli('netinfo', 'history', inst.uuid, '-f', 'json')
    assert [r['Kind'] for r in rows_] == ['vif_added',
                                         'floating_ip_associated']
    # Another tenant's instance with the same fixed IP, told only by
    # notifications (no network id): not a duplicate address.
    story.say('instance-update', '00000000-0000-0000-0002-000000000001',
              'other', [('port-other', 'fa:16:3e:00:01:77', address, 4)],
              tenant_id='another-project')
    feed(target, story.messages[-1])
    code, rows_ = cli('netinfo', 'anomalies', '-f', 'json')
    assert rows_ == []


def test_an_unknown_payload_major_is_read_with_one_warning(
        samples_dir: pathlib.Path, write_config: WriteConfig,
        tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture) -> None:
    state = tmp_path / 'state'
    configure(write_config, state)
    story = Story(samples_dir)
    for n in (1, 2):
        message = story.say('instance-update', '00000000-0000-0000-0003-'
                            '%012d' % n, 'v%d' % n, [port(100 + n)])
        message['payload']['nova_object.version'] = '3.0'
    target = endpoint()
    for message in story.messages:
        feed(target, message)
    assert caplog.text.count('does not know') == 1
    assert 'InstanceUpdatePayload 3.0' in caplog.text
    assert sorted(end_state(None, state)['hosts']) == [
        '10.0.0.102 v1.cloud.internal', '10.0.0.103 v2.cloud.internal']


def test_failed_messages_are_kept_and_replayed(
        samples_dir: pathlib.Path, write_config: WriteConfig,
        tmp_path: pathlib.Path) -> None:
    """The guard's database is unreachable: the message is parked, then
    recorded as failed with the notification (secret-looking metadata
    masked); once the database is back, --replay applies it."""
    state = tmp_path / 'state'
    path = write_config(
        enabled_plugins='audit,dns,storage,netinfo', state_dir=state,
        extra='[dns]\nzone = cloud.internal.\n[dns_hostsfile]\npath = %s\n'
              '[listen]\nmax_attempts = 2\nretry_delay = 0\n'
              'database_url = sqlite:///%s/missing/listen.sqlite\n'
              % (state / 'dns.hosts', tmp_path))
    _reset()
    story = Story(samples_dir)
    uuid = '00000000-0000-0000-0004-000000000001'
    message = story.say('instance-create-end', uuid, 'late', [port(200)],
                        metadata={'db_password': 'CanaryMetaPw', 'a': 'b'})
    message['metadata'].pop('message_id')  # a publisher that sets none
    target = endpoint()
    feed(target, message)
    assert target.retry_due() == 0  # attempt 2 of 2: given up
    (record,) = failed_journal().records()
    assert record['attempts'] == 2 and record['outcome'] == 'error'
    assert 'order guard' in record['reason']
    assert record['message_id'].startswith('sha1:')
    assert 'CanaryMetaPw' not in json.dumps(record)
    assert record['message']['payload']['nova_object.data'][
        'metadata']['a'] == 'b'
    assert end_state(None, state)['hosts'] == []
    (tmp_path / 'missing').mkdir()  # the cause is fixed
    code, replayed = cli('--config-file', str(path), 'listen', 'failed',
                         '--replay', '-f', 'json')
    assert code == 0
    assert [(r['Instance'], r['Outcome']) for r in replayed] == [
        (uuid, 'ok')]
    assert end_state(None, state)['hosts'] == [
        '%s late.cloud.internal' % port(200)[2]]
    code, listed = cli('--config-file', str(path), 'listen', 'failed',
                       '-f', 'json')
    assert listed == []


def test_an_instances_notifications_wait_behind_its_parked_one(
        samples_dir: pathlib.Path, write_config: WriteConfig,
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An interface attach that fails once is parked; the detach and the
    update after it wait behind it instead of overtaking it, so netinfo
    still records the VIF coming and going (not a stale attach, skipped)."""
    state = tmp_path / 'state'
    configure(write_config, state)
    story = Story(samples_dir)
    uuid = lifecycle(story, 7, delete=False)
    target = endpoint()
    target.retry_delay = 0.0
    real = NotificationEndpoint._apply
    failed: List[str] = []

    def flaky(self: NotificationEndpoint, note: mapping.Notification,
              message: Any) -> Any:
        if note.event_type == 'instance.interface_attach.end' and not failed:
            failed.append(note.message_id)
            return ['netinfo:instance_network_info:post'], []
        return real(self, note, message)
    monkeypatch.setattr(NotificationEndpoint, '_apply', flaky)
    for message in story.messages:
        feed(target, message)
    settle(target)
    assert failed
    assert history(None, state) == sorted([
        (uuid, 'vif_added', port(14)[0]), (uuid, 'vif_added', port(15)[0]),
        (uuid, 'vif_removed', port(15)[0])])
    assert end_state(None, state)['failed'] == []
