"""Each message of a batch keeps its own outcome: a plugin failing one
instance's event parks that message and its instance's later ones, and
nothing of the other instances (through the endpoint, with the real
plugins and a failing test-only one)."""

import pathlib
from typing import ClassVar, Iterator, List, Optional, Set

import pytest

from novahooks_core import HookEvent, HookPoint, NovaHook
from novahooks_core.hooks import dispatch
from novahooks_core.notify.message import Message
from novahooks_core.state import db
from novahooks_storage import service as storage_service
from tests.conftest import WriteConfig
from tests.listen.test_batch import as_messages
from tests.listen.test_order import Story, end_state, endpoint


class Failing(NovaHook):
    """Test-only plugin ``failing``: fails the creates of the instances in
    ``failing`` (``create_instance`` post: a notification's create event,
    whose instance is one of the call's ``instances``)."""

    plugin_name = 'failing'
    hook_point = HookPoint.CREATE_INSTANCE
    batches = True
    failing: ClassVar[Set[str]] = set()
    seen: ClassVar[List[Optional[str]]] = []

    def handle_post(self, event: HookEvent) -> str:
        uuid = event.instances[0].uuid
        Failing.seen.append(uuid)
        if uuid in Failing.failing:
            raise RuntimeError('failing on purpose')
        return 'ok'


@pytest.fixture
def failing(write_config: WriteConfig, tmp_path: pathlib.Path
            ) -> Iterator[type]:
    state = tmp_path / 'state'
    write_config(enabled_plugins='audit,dns,storage,failing',
                 state_dir=state,
                 extra='[dns]\nzone = cloud.internal.\n[dns_hostsfile]\n'
                       'path = %s\n' % (state / 'dns.hosts'))
    Failing.seen = []
    dispatch.handler_classes()[HookPoint.CREATE_INSTANCE].append(Failing)
    yield Failing
    dispatch.reset()


def uuid(n: int) -> str:
    return '00000000-0000-0000-0009-%012d' % n


def test_a_failed_create_parks_only_its_own_instance(
        failing: type, samples_dir: pathlib.Path,
        tmp_path: pathlib.Path) -> None:
    story = Story(samples_dir)
    for n in range(4):
        story.say('instance-create-end', uuid(n), 'o%d' % n)
    story.say('instance-update', uuid(0), 'o0')  # waits behind its create
    messages: List[Message] = as_messages(story.messages)
    Failing.failing = {uuid(0)}
    target = endpoint()
    target.retry_delay = 0.0
    assert target.process_batch(messages) is target._handled
    # Every other instance's create was handled by the failing plugin too.
    assert sorted(u for u in Failing.seen if u) == sorted(
        uuid(n) for n in range(4))
    parked = target.retry.records()
    assert [r['key'] for r in parked] == [messages[0].key, messages[4].key]
    assert [r['attempts'] for r in parked] == [1, 0]
    counts = target.stats.snapshot()
    assert counts['handled'] == 3 and counts['parked'] == 2
    # The other plugins applied the others; the parked ones follow.
    Failing.failing = set()
    assert target.retry_due() == 0
    assert len(end_state(None, tmp_path / 'state')['instances']) == 4
    assert target.stats.snapshot()['handled'] == 5


def test_a_spool_is_replayed_before_a_batch_never_inside_it(
        write_config: WriteConfig, samples_dir: pathlib.Path,
        tmp_path: pathlib.Path) -> None:
    """An operation the storage ledger could not take earlier waits in its
    spool. Inside the batch's unit of work the spool is left alone (the
    spool file would lose what was replayed if the unit then failed to
    commit); the listener replays it before the batch (the plugin's
    ``before_batch``), so it is applied first and nothing waits after."""
    state = tmp_path / 'state'
    write_config(enabled_plugins='audit,storage', state_dir=state)
    storage = storage_service.service()
    storage.ensure_schema()
    spooled = storage_service.op('requested', uuid(7), 'p-spooled', ())
    storage.spool.journal.append(spooled)
    unit = db.Unit()
    with db.using(unit):
        assert storage.spool.replay() == (0, 1)
    unit.rollback()
    assert storage.spool.depth() == 1
    story = Story(samples_dir)
    story.say('instance-create-end', uuid(8), 'o8')
    target = endpoint()
    assert target.process_batch(as_messages(story.messages)) \
        is target._handled
    assert storage.spool.depth() == 0
    assert sorted(u for u, _ in end_state(None, state)['instances']) == [
        uuid(7), uuid(8)]


def test_a_batch_is_counted_handled_only_once_committed(
        failing: type, samples_dir: pathlib.Path, tmp_path: pathlib.Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The listener's counters (what ``listen status`` and the tests read)
    say a message is handled only once its effects are committed: a batch
    whose commit fails is parked whole, and counted as parked only."""
    story = Story(samples_dir)
    for n in range(3):
        story.say('instance-create-end', uuid(n), 'o%d' % n)
    messages: List[Message] = as_messages(story.messages)
    target = endpoint()
    target.retry_delay = 0.0
    commit = db.Unit.commit

    def failing_commit(unit: db.Unit) -> None:
        raise RuntimeError('database went away')

    monkeypatch.setattr(db.Unit, 'commit', failing_commit)
    assert target.process_batch(messages) is target._handled
    counts = target.stats.snapshot()
    assert counts.get('handled', 0) == 0
    assert counts.get('instance.create.end', 0) == 0
    assert counts['parked'] == 3
    monkeypatch.setattr(db.Unit, 'commit', commit)
    assert target.retry_due() == 0
    assert target.stats.snapshot()['handled'] == 3
    assert len(end_state(None, tmp_path / 'state')['instances']) == 3
