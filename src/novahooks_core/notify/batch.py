"""A batch of notifications as one unit of work, decided at once.

oslo.messaging's batch listener hands the endpoint up to ``[listen]
batch_size`` messages. They are read in order; each run of Nova
notifications between two of Neutron's is decided together:

1. the order guard reads the marks of every instance of the run, under
   their locks, with one statement per table (:meth:`Guard.batch`);
2. each notification's verdict per plugin is decided in memory, in order,
   as if every earlier one of the run took effect;
3. each plugin gets every event it is to handle in one call
   (:meth:`NovaHook.handle_batch`), so a plugin may read and write its
   state for the whole run at once;
4. each message gets its own outcome: a failed plugin parks the message,
   and its instance's later messages wait behind it; bad input records it
   as failed; the marks of the plugins that applied it move (written
   once, for the whole run);
5. the unit of work commits the plugins' transactions, then the guard's.

A batch that cannot commit is parked whole, in order: the marks did not
move, so the retry redoes (idempotently) what a plugin committed before
the failure. Neutron's messages are decided one at a time, in their place
(their order is per floating IP and port, and each may deliver events to
several instances).
"""

import collections
import dataclasses
import datetime
from typing import (
    TYPE_CHECKING,
    Any,
    Dict,
    List,
    Optional,
    Sequence,
    Set,
    Tuple,
)

from oslo_log import log as logging

from novahooks_core.containment import redact
from novahooks_core.hooks import dispatch
from novahooks_core.hooks.event import HookEvent
from novahooks_core.hooks.seen import SEEN
from novahooks_core.models import HookPoint, Outcome, Phase
from novahooks_core.normalize import BadInput
from novahooks_core.notify import mapping
from novahooks_core.notify.facts import Verdict
from novahooks_core.notify.guard import HeldBatch, Mark, verdict
from novahooks_core.notify.message import Family
from novahooks_core.state import db

if TYPE_CHECKING:
    from novahooks_core.notify.endpoint import NotificationEndpoint
    from novahooks_core.notify.message import Message

LOG = logging.getLogger(__name__)

OK, ERROR, BAD_INPUT, SKIPPED = (Outcome.OK, Outcome.ERROR,
                                 Outcome.BAD_INPUT, Outcome.SKIPPED)
BEHIND = 'behind a parked notification of the same instance'
#: A mark's deletion time while only expected (any time will do).
_DELETED = datetime.datetime.min

#: A hook and the event it is to handle.
Call = Tuple[Any, HookEvent]


@dataclasses.dataclass
class Decided:
    """What a batch decided about its messages, acted on once its unit of
    work commits (or not)."""

    #: Messages to park: (message, attempts, reason) by key, in order.
    parks: Dict[str, Tuple['Message', int, str]] = dataclasses.field(
        default_factory=collections.OrderedDict)
    #: Keys of the messages recorded as failed.
    failed: Set[str] = dataclasses.field(default_factory=set)
    #: Instances with a message parked in this batch (later ones wait).
    blocked: Set[str] = dataclasses.field(default_factory=set)
    #: What the listener's counters gain once the unit commits (never
    #: before: a reader must find a handled message's effects).
    counts: Dict[str, int] = dataclasses.field(
        default_factory=collections.Counter)

    def park(self, message: 'Message', attempts: int, reason: str,
             uuid: Optional[str]) -> None:
        self.parks[message.key] = (message, attempts, reason)
        if uuid:
            self.blocked.add(uuid)


@dataclasses.dataclass
class _Run:
    """A run's notifications as the plugins are to see them."""

    #: (message, notification), in order.
    notes: List[Tuple['Message', mapping.Notification]]
    #: Per plugin, in the order plugins come: (index of the note, call).
    calls: Dict[str, List[Tuple[int, Call]]]


class BatchDispatch:
    """Decides batches for ``endpoint`` (its guard, parking and stats)."""

    def __init__(self, endpoint: 'NotificationEndpoint') -> None:
        self.endpoint = endpoint

    def process(self, messages: Sequence['Message']) -> bool:
        """Handle ``messages`` as one unit of work; whether some could be
        neither handled nor kept (the broker must have them back)."""
        endpoint = self.endpoint
        decided = Decided()
        _before_batch()
        unit = db.Unit(last=(endpoint.guard.engine,))
        try:
            with db.using(unit):
                self._decide(messages, decided)
            unit.commit()
            endpoint.stats.add_all(decided.counts)
        except Exception as exc:
            unit.rollback()
            SEEN.clear()  # it may remember what was rolled back
            why = redact.scrub('%s: %s' % (type(exc).__name__, exc))
            LOG.warning('novahooks listen: %d message(s) of a batch not '
                        'committed (%s); parked to be tried again',
                        len(messages), why)
            decided.parks = collections.OrderedDict(
                (m.key, decided.parks.get(m.key) or (m, 1, 'commit: ' + why))
                for m in messages if m.key not in decided.failed)
        return endpoint._park_all(list(decided.parks.values()))

    def _decide(self, messages: Sequence['Message'],
                decided: Decided) -> None:
        run: List[Tuple[Message, mapping.Notification]] = []
        for message in messages:
            if message.family is Family.NEUTRON:
                self._nova(run, decided)
                run = []
                self._alone(message, decided)
                continue
            try:
                note = mapping.read(message.event_type, message.payload,
                                    message.context, message.metadata)
            except BadInput as exc:
                self._fail(message, BAD_INPUT, str(exc), decided)
                continue
            except Exception as exc:  # a bug of ours: never block the queue
                LOG.exception('novahooks listen: cannot map %s %s',
                              message.event_type, message.key)
                self._fail(message, BAD_INPUT, type(exc).__name__, decided)
                continue
            if note is not None:
                run.append((message, note))
        self._nova(run, decided)

    def _alone(self, message: 'Message', decided: Decided) -> None:
        """A message decided on its own (Neutron's)."""
        outcome, reason = self.endpoint.attempt(message)
        if outcome == ERROR and self.endpoint.max_attempts > 1:
            decided.park(message, 1, reason, None)
        elif outcome != OK:
            self._fail(message, outcome, reason, decided)

    def _fail(self, message: 'Message', outcome: str, reason: str,
              decided: Decided) -> None:
        decided.failed.add(message.key)
        self.endpoint._fail(message, outcome, reason, 1)

    # -- a run of Nova notifications --------------------------------------

    def _nova(self, notes: List[Tuple['Message', mapping.Notification]],
              decided: Decided) -> None:
        if not notes:
            return
        endpoint = self.endpoint
        with endpoint.guard.batch(n.instance_uuid for _, n in notes) as held:
            run = self._plan(notes, held, decided)
            failing: Dict[int, List[str]] = collections.defaultdict(list)
            bad: Dict[int, List[str]] = collections.defaultdict(list)
            behind: Set[int] = set()
            applied: Dict[int, List[str]] = collections.defaultdict(list)
            #: The index of each instance's first failed message.
            stopped: Dict[str, int] = {}
            for plugin, planned in run.calls.items():
                planned = [(i, c) for i, c in planned if i <= stopped.get(
                    run.notes[i][1].instance_uuid, i)]
                outcomes = _handle_batch([c for _, c in planned])
                done: Dict[int, bool] = {}
                for (index, (_, event)), outcome in zip(planned, outcomes):
                    uuid = run.notes[index][1].instance_uuid
                    name = '%s:%s:%s' % (plugin, event.hook.value,
                                         event.phase.value)
                    if outcome is ERROR:
                        failing[index].append(name)
                        stopped[uuid] = min(stopped.get(uuid, index), index)
                    elif outcome is BAD_INPUT:
                        bad[index].append(name)
                    elif outcome is SKIPPED:
                        behind.add(index)
                    done[index] = done.get(index, True) and outcome not in (
                        ERROR, BAD_INPUT, SKIPPED)
                for index, fine in done.items():
                    if fine:
                        applied[index].append(plugin)
            for index, (message, note) in enumerate(run.notes):
                uuid = note.instance_uuid
                if index > stopped.get(uuid, index):
                    behind.add(index)
                self._settle(message, note, held, applied.get(index, []),
                             failing.get(index), bad.get(index),
                             index in behind, decided)

    def _plan(self, notes: List[Tuple['Message', mapping.Notification]],
              held: HeldBatch, decided: Decided) -> _Run:
        """Each notification's verdict per plugin, in order, as if every
        earlier one took effect; the calls of those to run."""
        endpoint = self.endpoint
        kept: List[Tuple[Message, mapping.Notification]] = []
        calls: Dict[str, List[Tuple[int, Call]]] = collections.OrderedDict()
        expected: Dict[Tuple[str, str], Mark] = {}
        gone: Set[str] = set()
        for message, note in notes:
            uuid = note.instance_uuid
            if uuid in decided.blocked or (
                    endpoint.max_attempts > 1 and endpoint._is_parked(uuid)):
                decided.park(message, 0, BEHIND, uuid)
                continue
            instance = held.held(uuid)
            if endpoint.neutron and not note.deletes and note.instance:
                note = note.with_network(
                    instance.with_floating(note.instance))
                instance.keep_snapshot(note, message.record())
            index = len(kept)
            kept.append((message, note))
            for plugin, pairs in handlers_by_plugin(note.events).items():
                seen = verdict(
                    expected.get((uuid, plugin), instance.marks.get(plugin)),
                    note, instance.deleted or uuid in gone)
                if seen is not Verdict.RUN:
                    decided.counts[seen.value] += 1
                    LOG.debug('novahooks listen: %s %s is %s for %s '
                              '(instance %s)', note.event_type,
                              note.message_id, seen.value, plugin, uuid)
                    continue
                expected[(uuid, plugin)] = Mark(
                    note.updated_at, note.sent_at, note.message_id,
                    _DELETED if note.deletes else None)
                calls.setdefault(plugin, []).extend(
                    (index, (hook, event)) for event, hook in pairs)
            if note.deletes:
                gone.add(uuid)
        return _Run(kept, calls)

    def _settle(self, message: 'Message', note: mapping.Notification,
                held: HeldBatch, applied: List[str],
                failing: Optional[List[str]], bad: Optional[List[str]],
                behind: bool, decided: Decided) -> None:
        """One message's outcome: the marks of the plugins that applied
        it move; it is parked, recorded as failed, or handled."""
        endpoint = self.endpoint
        uuid = note.instance_uuid
        instance = held.held(uuid)
        instance.applied(applied, note)
        if failing:
            if endpoint.max_attempts > 1:
                decided.park(message, 1, ', '.join(failing), uuid)
            else:
                self._fail(message, ERROR, ', '.join(failing), decided)
        elif bad:
            self._fail(message, BAD_INPUT, ', '.join(bad), decided)
        elif behind:
            decided.park(message, 0, BEHIND, uuid)
        else:
            if note.deletes:
                instance.tombstone()
            decided.counts['handled'] += 1
            decided.counts[message.event_type] += 1


def handlers_by_plugin(events: Sequence[HookEvent]
                        ) -> Dict[str, List[Tuple[HookEvent, Any]]]:
    """The active handlers of these events, by plugin, in order."""
    by_plugin: Dict[str, List[Tuple[HookEvent, Any]]] = (
        collections.OrderedDict())
    for event in events:
        for handler in dispatch.active_handlers(event.hook, event.phase):
            by_plugin.setdefault(handler.plugin_name, []).append(
                (event, handler))
    return by_plugin


def _before_batch() -> None:
    """Each enabled plugin's :meth:`~novahooks_core.NovaHook.before_batch`,
    outside the batch's unit of work; a failure is logged."""
    done: Set[str] = set()
    for point in HookPoint:
        for phase in Phase:
            for hook in dispatch.active_handlers(point, phase):
                if hook.plugin_name in done:
                    continue
                done.add(hook.plugin_name)
                try:
                    type(hook).before_batch()
                except Exception:
                    LOG.exception('novahooks listen: %s could not prepare '
                                  'for a batch', hook.plugin_name)


def _handle_batch(calls: Sequence[Call]) -> List[Outcome]:
    """The plugin's :meth:`~novahooks_core.NovaHook.handle_batch`: in the
    unit of work if the plugin opted in (``batches``), else each write
    committing on its own. Never raises: a failure of the call itself is
    an ``error`` for each of its events."""
    if not calls:
        return []
    first = calls[0][0]
    try:
        if getattr(first, 'batches', False):
            found = type(first).handle_batch(calls)
        else:
            with db.using(None):
                found = type(first).handle_batch(calls)
        outcomes = [Outcome(o) for o in found]
        if len(outcomes) != len(calls):
            raise ValueError('%d outcomes for %d events' % (
                len(outcomes), len(calls)))
        return outcomes
    except Exception:
        LOG.exception('novahooks listen: %s failed a batch of %d event(s)',
                      getattr(first, 'plugin_name', type(first).__name__),
                      len(calls))
        return [ERROR] * len(calls)
