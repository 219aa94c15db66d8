"""Batches (``[listen] batch_size`` > 1) as units of work: the plugins that
opted in write in one transaction per plugin per batch, committed before
the order guard's marks, and DNS changes go once the batch commits, one
UPDATE per zone; each message keeps its own outcome. Through the endpoint
with the real plugins on SQLite and PostgreSQL (the broker path is in
test_listen.py)."""

import collections
import os
import pathlib
import threading
from typing import Any, Callable, ClassVar, Dict, Iterator, List, Tuple

import pytest
import sqlalchemy as sa

from novahooks_core import HookEvent, HookPoint, NovaHook
from novahooks_core.hooks import dispatch
from novahooks_core.notify.endpoint import NotificationEndpoint
from novahooks_core.notify.message import Message
from novahooks_core.state import db
from novahooks_dns import service as dns_service
from tests.conftest import WriteConfig
from tests.listen.conftest import rows, wait_until
from tests.listen.test_order import (  # noqa: F401
    Story,
    _fresh_services,
    _shuffled_with_duplicates,
    configure,
    end_state,
    endpoint,
    fresh_database,
    history,
    lifecycle,
    settle,
)
from tests.pg import PostgresServer, postgres  # noqa: F401


def as_messages(found: List[Dict[str, Any]]) -> List[Message]:
    return [Message.received({}, m['publisher_id'], m['event_type'],
                             m['payload'], m['metadata']) for m in found]


def feed_batches(target: NotificationEndpoint, found: List[Dict[str, Any]],
                 size: int) -> None:
    messages = as_messages(found)
    for start in range(0, len(messages), size):
        assert target.process_batch(messages[start:start + size]) \
            is target._handled


@pytest.fixture
def commits() -> Iterator[Dict[str, int]]:
    """Commits per database (file name, or ``postgresql``), as SQLAlchemy
    performs them."""
    counted: Dict[str, int] = collections.Counter()

    def count(conn: Any) -> None:
        url = conn.engine.url
        counted[os.path.basename(url.database or '') if
                url.get_backend_name() == 'sqlite' else 'postgresql'] += 1
    sa.event.listen(sa.engine.Engine, 'commit', count)
    yield counted
    sa.event.remove(sa.engine.Engine, 'commit', count)


@pytest.mark.parametrize('database', ['sqlite', 'postgresql'])
def test_batches_give_the_same_end_state(
        database: str, samples_dir: pathlib.Path, write_config: WriteConfig,
        tmp_path: pathlib.Path, request: pytest.FixtureRequest) -> None:
    """In order one at a time into one state; shuffled with duplicates in
    batches (on PostgreSQL split between two endpoints at once) into
    another: the same records, ledger, network view and history."""
    story = Story(samples_dir)
    for n in range(1, 9):
        lifecycle(story, n, delete=n % 2 == 0)

    url = fresh_database(database, request)
    configure(write_config, tmp_path / 'ordered', url)
    target = endpoint()
    for message in as_messages(story.messages):
        target.process(message)
    in_order = end_state(url, tmp_path / 'ordered')
    assert in_order['failed'] == [] and len(in_order['hosts']) == 4
    in_order_history = history(url, tmp_path / 'ordered')

    url = fresh_database(database, request)
    configure(write_config, tmp_path / 'mixed', url)
    mixed = _shuffled_with_duplicates(story.messages, seed=11)
    if database == 'postgresql':
        targets = [endpoint(), endpoint()]
        threads = [threading.Thread(target=feed_batches, args=(t, h, 7))
                   for t, h in zip(targets, [mixed[0::2], mixed[1::2]])]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        for target in targets:
            settle(target)
    else:
        target = endpoint()
        feed_batches(target, mixed, 9)
        settle(target)
    assert end_state(url, tmp_path / 'mixed') == in_order
    # Nothing recorded twice; out of order, a transient state (an
    # interface attached, then detached) may be skipped as stale.
    mixed_history = history(url, tmp_path / 'mixed')
    assert len(mixed_history) == len(set(mixed_history))
    assert set(mixed_history) <= set(in_order_history)


def test_a_batch_commits_once_per_plugin_and_sends_dns_once_per_zone(
        samples_dir: pathlib.Path, write_config: WriteConfig,
        tmp_path: pathlib.Path, commits: Dict[str, int]) -> None:
    story = Story(samples_dir)
    for n in range(1, 6):
        lifecycle(story, n, delete=False)
    messages = as_messages(story.messages)  # 5 instances, 25 messages
    state = tmp_path / 'state'
    configure(write_config, state)
    target = endpoint()
    for message in messages[:2]:  # a boot: schemas migrated, engines made
        target.process(message)
    sent: List[int] = []
    backend = dns_service.service().backend
    apply = backend.apply

    def counted(zone: str, changes: List[Any], timeout: float) -> None:
        sent.append(len(changes))
        apply(zone, changes, timeout)
    backend.apply = counted  # type: ignore[method-assign]
    commits.clear()
    assert target.process_batch(messages[2:]) is target._handled
    # One transaction per plugin, then the guard's; the DNS sender's own
    # (claim, confirm) come after.
    assert commits['storage.sqlite'] == 1
    assert commits['netinfo.sqlite'] == 1
    assert commits['listen.sqlite'] == 1
    # The batch's changes go once it committed, by the background sender
    # (or the flush below, whichever claims them first): one UPDATE.
    sender = dns_service.service().sender
    wait_until(lambda: sender.flush().done, timeout=60,
               what='DNS\'s outbox sent')
    assert len(sent) == 1 and sent[0] >= 4  # every new instance's records
    found = end_state(None, state)
    assert len(found['hosts']) == 5 and found['failed'] == []

    # The same one at a time: a commit per message and plugin.
    configure(write_config, tmp_path / 'single')
    target = endpoint()
    for message in messages[:2]:
        target.process(message)
    commits.clear()
    for message in messages[2:]:
        target.process(message)
    assert commits['netinfo.sqlite'] >= 10
    assert commits['listen.sqlite'] == len(messages) - 2
    assert end_state(None, tmp_path / 'single')['hosts'] == found['hosts']


class Probe(NovaHook):
    """Test-only plugin ``probe``: writes a row per event through core's
    ``db`` and notes whether the previous event's row was committed (seen
    from a connection of its own)."""

    plugin_name = 'probe'
    hook_point = HookPoint.BUILD_INSTANCE
    url: ClassVar[str] = ''
    seen_committed: ClassVar[List[bool]] = []
    key: ClassVar[Callable[[HookEvent], str]] = staticmethod(
        lambda event: str(event.instance_uuid))

    def handle_post(self, event: HookEvent) -> str:
        engine = db.engine('probe', self.url)
        with engine.connect() as conn:
            before = conn.execute(sa.text(
                'select count(*) from probe')).scalar()
        Probe.seen_committed.append(before == len(Probe.seen_committed))
        with db.begin(engine) as conn:
            conn.execute(sa.text('insert into probe (k) values (:k)'),
                         {'k': Probe.key(event)})
        return 'ok'


@pytest.fixture
def probe(write_config: WriteConfig, tmp_path: pathlib.Path
          ) -> Iterator[type]:
    state = tmp_path / 'state'
    write_config(enabled_plugins='audit,probe', state_dir=state)
    state.mkdir(parents=True, exist_ok=True)
    Probe.url = 'sqlite:///%s' % (state / 'probe.sqlite')
    Probe.seen_committed = []
    Probe.batches = False
    dispatch.handler_classes()[HookPoint.BUILD_INSTANCE].append(Probe)
    yield Probe
    Probe.batches = False
    dispatch.reset()


def create_ends(samples_dir: pathlib.Path, count: int) -> List[Message]:
    story = Story(samples_dir)
    for n in range(count):
        story.say('instance-create-end', '00000000-0000-0000-0007-%012d' % n,
                  'p%d' % n)
    return as_messages(story.messages)


@pytest.mark.parametrize('opted_in', [False, True])
def test_only_plugins_that_opted_in_share_the_batch_transaction(
        opted_in: bool, probe: type, samples_dir: pathlib.Path) -> None:
    engine = db.engine('probe', Probe.url)
    with engine.begin() as conn:
        conn.execute(sa.text('create table probe (k text)'))
    Probe.batches = opted_in
    target = endpoint()
    assert target.process_batch(create_ends(samples_dir, 4)) \
        is target._handled
    # Not opted in: each event committed on its own; opted in: nothing
    # committed before the batch's end.
    assert Probe.seen_committed == [True] + [not opted_in] * 3
    with engine.connect() as conn:
        assert conn.execute(sa.text(
            'select count(*) from probe')).scalar() == 4


def test_a_batch_that_cannot_commit_is_parked_in_order_and_retried(
        probe: type, samples_dir: pathlib.Path,
        postgres: PostgresServer,  # noqa: F811
        tmp_path: pathlib.Path) -> None:
    """A plugin's commit fails (a deferred constraint: every savepoint
    succeeded): the guard's marks are not committed (they follow the
    plugins'), every message of the unit is parked in its order, and the
    retry applies each once."""
    postgres.reset()
    Probe.url = postgres.url
    Probe.batches = True
    Probe.key = staticmethod(lambda event: 'same')
    engine = db.engine('probe', Probe.url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            'create table probe (k text, constraint one_k unique (k) '
            'deferrable initially deferred)'))
    target = endpoint()
    target.retry_delay = 0.0
    messages = create_ends(samples_dir, 3)
    assert target.process_batch(messages) is target._handled
    state = tmp_path / 'state'
    assert rows(state, 'listen.sqlite', 'select count(*) from listen_marks'
                ) == [(0,)]
    parked = target.retry.records()
    assert [r['key'] for r in parked] == [m.key for m in messages]
    assert all(r['reason'].startswith('commit: IntegrityError')
               for r in parked)
    assert target.stats.snapshot()['parked'] == 3
    Probe.key = staticmethod(lambda event: str(event.instance_uuid))
    settle(target)
    with engine.connect() as conn:
        assert sorted(r[0] for r in conn.execute(sa.text(
            'select k from probe'))) == sorted(
            m.payload['nova_object.data']['uuid'] for m in messages)
    # audit and probe, once each per message.
    assert rows(state, 'listen.sqlite', 'select count(*) from listen_marks'
                ) == [(6,)]
    assert target.failed.records() == []


@pytest.mark.parametrize('database', ['sqlite', 'postgresql'])
def test_the_guard_and_netinfo_statements_do_not_grow_with_the_batch(
        database: str, samples_dir: pathlib.Path,
        write_config: WriteConfig, tmp_path: pathlib.Path,
        request: pytest.FixtureRequest) -> None:
    """A batch is decided at once: the order guard's and netinfo's SQL
    statements (counted by SQLAlchemy's cursor events, by the tables they
    name) are as many for 100 new instances as for 10."""
    url = fresh_database(database, request)
    configure(write_config, tmp_path / 'state', url)
    target = endpoint()
    storm = create_ends(samples_dir, 111)
    assert target.process_batch(storm[:1]) is target._handled  # schemas
    counted: Dict[str, int] = collections.Counter()

    def count(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        for prefix in ('listen_', 'netinfo_'):
            if prefix in statement:
                counted[prefix] += 1
    sa.event.listen(sa.engine.Engine, 'before_cursor_execute', count)
    try:
        assert target.process_batch(storm[1:11]) is target._handled
        small = dict(counted)
        counted.clear()
        assert target.process_batch(storm[11:]) is target._handled
        large = dict(counted)
    finally:
        sa.event.remove(sa.engine.Engine, 'before_cursor_execute', count)
    assert small == large, (small, large)
    assert 0 < large['listen_'] <= 6 and 0 < large['netinfo_'] <= 8
    assert target.stats.snapshot()['handled'] == 111
    found = end_state(url, tmp_path / 'state')
    assert len(found['instances']) == 111 and found['failed'] == []


@pytest.mark.parametrize('database', ['sqlite', 'postgresql'])
def test_the_storage_statements_do_not_grow_with_the_batch(
        database: str, samples_dir: pathlib.Path,
        write_config: WriteConfig, tmp_path: pathlib.Path,
        request: pytest.FixtureRequest) -> None:
    """Storage reads the ledger of a batch's instances at once and writes
    it once: the SQL statements naming its tables are as many for 100
    new instances as for 10, and for a mixed batch (creates with a
    volume, interface changes, then shutdowns and deletes) of 30
    instances as of 3."""
    url = fresh_database(database, request)
    configure(write_config, tmp_path / 'state', url)
    target = endpoint()
    storm = create_ends(samples_dir, 111)
    assert target.process_batch(storm[:1]) is target._handled  # schemas
    story = Story(samples_dir)
    for n in range(1, 34):
        lifecycle(story, n, delete=True)  # 7 messages each: 5 up, 2 down
    up = as_messages([m for i, m in enumerate(story.messages) if i % 7 < 5])
    down = as_messages([m for i, m in enumerate(story.messages)
                        if i % 7 >= 5])
    small, large, mixed_small, mixed_large = statements_of_batches(
        target, 'storage_', storm, up, down)
    assert small == large and 0 < large <= 6, (small, large)
    assert mixed_small == mixed_large, (mixed_small, mixed_large)
    assert all(0 < n <= 8 for n in mixed_large), mixed_large
    assert target.stats.snapshot()['handled'] == 111 + len(story.messages)
    found = end_state(url, tmp_path / 'state')
    assert len(found['instances']) == 111 + 33 and found['failed'] == []
    assert sorted(found['volumes']) == sorted(
        ('vol-%d' % n, '00000000-0000-0000-0001-%012d' % n, 'retained')
        for n in range(1, 34))


@pytest.mark.parametrize('database', ['sqlite', 'postgresql'])
def test_the_dns_statements_do_not_grow_with_the_batch(
        database: str, samples_dir: pathlib.Path,
        write_config: WriteConfig, tmp_path: pathlib.Path,
        request: pytest.FixtureRequest) -> None:
    """DNS reads the state of a batch's instances at once, decides each
    event in memory and writes once: the SQL statements naming its tables
    (the listener's; its background sender's are its own) are as many
    for a boot storm of 100 instances as of 10, and for a mixed batch
    (boots, interface changes; then shutdowns and deletes) of 30
    instances as of 3."""
    from tests.listen.test_order import port
    url = fresh_database(database, request)
    configure(write_config, tmp_path / 'state', url,
              '[dns]\nbatch_send_budget_ms = 0\n')
    target = endpoint()
    boot = Story(samples_dir)
    for n in range(111):
        boot.say('instance-create-end', '00000000-0000-0000-0008-%012d' % n,
                 'boot%d' % n, [port(1000 + n)])
    storm = as_messages(boot.messages)
    assert target.process_batch(storm[:1]) is target._handled  # schemas
    story = Story(samples_dir)
    for n in range(1, 34):
        lifecycle(story, n, delete=True)  # 7 messages each: 5 up, 2 down
    up = as_messages([m for i, m in enumerate(story.messages) if i % 7 < 5])
    down = as_messages([m for i, m in enumerate(story.messages)
                        if i % 7 >= 5])
    small, large, mixed_small, mixed_large = statements_of_batches(
        target, 'dns_', storm, up, down)
    # Read: instances, pending changes, applied records (and, for records
    # released, who else holds those names); written: the outbox, new
    # instances, changed ones.
    assert small == large and 0 < large <= 6, (small, large)
    assert mixed_small == mixed_large, (mixed_small, mixed_large)
    assert all(0 < n <= 8 for n in mixed_large), mixed_large
    assert target.stats.snapshot()['handled'] == 111 + len(story.messages)
    found = end_state(url, tmp_path / 'state')
    assert len(found['hosts']) == 111 and found['failed'] == []
    assert {line.split()[1] for line in found['hosts']} == {
        'boot%d.cloud.internal' % n for n in range(111)}


def statements_of_batches(
        target: NotificationEndpoint, needle: str, storm: List[Message],
        up: List[Message], down: List[Message]
        ) -> Tuple[int, int, Tuple[int, int], Tuple[int, int]]:
    """The SQL statements naming ``needle`` tables that this thread (the
    listener's: a background sender's are its own) runs for a boot storm
    of 10 instances and of 100 (``storm[1:11]``, ``storm[11:]``), and for
    mixed batches (boots, then shutdowns and deletes) of a few instances
    and of the rest."""
    counted: List[str] = []
    listener = threading.get_ident()

    def count(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if needle in statement and threading.get_ident() == listener:
            counted.append(statement)

    def statements(messages: List[Message]) -> int:
        counted.clear()
        assert target.process_batch(messages) is target._handled
        return len(counted)
    sa.event.listen(sa.engine.Engine, 'before_cursor_execute', count)
    try:
        small, large = statements(storm[1:11]), statements(storm[11:])
        mixed_small = statements(up[:15]), statements(down[:6])
        mixed_large = statements(up[15:]), statements(down[6:])
    finally:
        sa.event.remove(sa.engine.Engine, 'before_cursor_execute', count)
    return small, large, mixed_small, mixed_large
