"""``NovaHook``: the class a ``nova.hooks`` entry point points at.

Nova builds every hook class with no arguments on *every* hooked call, then
calls ``pre(*args, **kwargs)`` and ``post(rv, *args, **kwargs)`` if those
attributes are truthy. So ``__init__`` does nothing, and ``pre``/``post``
are ``None`` when the plugin is disabled or the subclass has no handler for
that phase: Nova then skips the hook at the cost of an attribute lookup.

A hook is written as::

    class MyHooks(NovaHook):
        plugin_name = 'mine'

        def handle_post(self, event):
            ...   # event: novahooks_core.HookEvent

    class MyBuild(MyHooks):
        hook_point = HookPoint.BUILD_INSTANCE

and ``setup.cfg`` maps ``nova.hooks`` ``build_instance = pkg.mod:MyBuild``.

:meth:`NovaHook.handle` alone owns the memory of unchanged calls
(:mod:`novahooks_core.hooks.seen`): a handler tells it what to remember
by returning :class:`Handled`, and a hook with ``skips_unchanged`` has an
equal call skipped before its handler runs.
"""

from typing import (
    Any,
    Callable,
    ClassVar,
    Dict,
    Iterable,
    List,
    Optional,
    Sequence,
    Tuple,
)

from oslo_log import log as logging

from novahooks_core import config

# metrics registers its textfile writer with timing when imported: every
# process running hooks then writes one when [DEFAULT] metrics_dir is set.
from novahooks_core.containment import metrics, timing  # noqa: F401
from novahooks_core.containment.isolation import guarded
from novahooks_core.hooks.event import HookEvent
from novahooks_core.hooks.seen import SEEN, unchanged
from novahooks_core.models import HookPoint, Outcome, Phase

_UNCHANGED = Outcome.UNCHANGED  # a global: read on every unchanged heal
_ERROR = Outcome.ERROR

LOG = logging.getLogger(__name__)

VETOABLE = frozenset([HookPoint.CREATE_INSTANCE, HookPoint.BUILD_INSTANCE])
# (Module names: reading an Enum's member from its class is slow, and these
# are read on every hooked call.)
_PRE, _POST = Phase.PRE, Phase.POST


class Handled(str):
    """A handler's summary that also tells :meth:`NovaHook.handle` what
    its plugin now knows of the call's instance.

    ``Handled(summary, unchanged_for=seconds)``: the plugin's state now
    matches this call, so an equal call (same
    :attr:`HookEvent.unchanged_key`) for the instance within ``seconds``
    is unchanged: skipped before the handler of a hook with
    ``skips_unchanged``, told by :meth:`NovaHook.is_unchanged`.
    ``Handled(summary, forget=True)``: what was remembered of the
    instance is forgotten (its next call is handled). A plain ``str`` (or
    ``None``) leaves the memory as it is. Remembering reads the event's
    key inside the handler's guard: a key that cannot be read makes the
    call an ``error``, as any failure of the handler would.
    """

    unchanged_for: float
    forget: bool

    def __new__(cls, summary: str, unchanged_for: float = 0.0,
                forget: bool = False) -> 'Handled':
        made = super().__new__(cls, summary)
        made.unchanged_for = unchanged_for
        made.forget = forget
        return made


class NovaHook:
    """Base of every novahooks hook class; see the module docstring."""

    #: Name in ``[DEFAULT] enabled_plugins`` that switches this hook on.
    plugin_name: ClassVar[str] = ''
    #: The Nova hook point this class is registered for.
    hook_point: ClassVar[Optional[HookPoint]] = None
    #: Skip a call whose :attr:`HookEvent.unchanged_key` equals the last
    #: one this plugin remembered for the instance (a handler's
    #: :class:`Handled` result; :data:`novahooks_core.hooks.seen.SEEN`):
    #: counted as ``unchanged``, not timed, before anything is normalized
    #: (the periodic heal).
    skips_unchanged: ClassVar[bool] = False
    #: In the notification listener's batches, this plugin's writes
    #: through :mod:`novahooks_core.state.db` join the batch's unit of
    #: work: one transaction per plugin per batch, committed before the
    #: order guard's marks, and what
    #: :func:`~novahooks_core.state.db.after_commit`
    #: asks (e.g. sending DNS) done once it commits. Off: each event's
    #: writes commit on their own. Handlers are called one event at a
    #: time either way.
    batches: ClassVar[bool] = False

    _handles: ClassVar[Dict[Phase, bool]] = {}
    _names: ClassVar[Dict[Phase, str]] = {}
    _handles_pre: ClassVar[bool] = False
    _handles_post: ClassVar[bool] = False
    _name_pre: ClassVar[str] = ''
    _name_post: ClassVar[str] = ''

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.hook_point is not None:
            cls.hook_point = HookPoint(cls.hook_point)
        point = cls.hook_point.value if cls.hook_point else '?'
        cls._handles = {
            Phase.PRE: cls.handle_pre is not NovaHook.handle_pre,
            Phase.POST: cls.handle_post is not NovaHook.handle_post}
        cls._names = {phase: '%s:%s:%s' % (cls.plugin_name, point,
                                           phase.value)
                      for phase in Phase}
        # The same, read per call without hashing an Enum.
        cls._handles_pre, cls._handles_post = (cls._handles[Phase.PRE],
                                               cls._handles[Phase.POST])
        cls._name_pre, cls._name_post = (cls._names[Phase.PRE],
                                         cls._names[Phase.POST])

    def handle_pre(self, event: HookEvent) -> Optional[str]:
        """Handle the call before Nova's function runs.

        May return a short summary of what was done (shown by ``novahooks
        simulate``), a :class:`Handled` one to have an equal call taken as
        unchanged, and may raise :class:`~novahooks_core.Veto` in
        ``create_instance``/``build_instance``.
        """
        return None

    def handle_post(self, event: HookEvent) -> Optional[str]:
        """Handle the call after Nova's function returned (not if it raised).

        May return a short summary of what was done (a :class:`Handled`
        one: see :meth:`handle_pre`).
        """
        return None

    @classmethod
    def handle_batch(cls, calls: Sequence[Tuple['NovaHook', HookEvent]]
                     ) -> List[Outcome]:
        """Handle a batch of the listener's events for this plugin: every
        ``(hook, event)`` of the plugin's hook classes, in the order their
        instances' notifications take effect; one outcome per call, as
        :meth:`handle` gives it. The listener calls it on the class of
        the batch's first hook, so a plugin overrides it on the base its
        hook classes share, to read its state for the whole batch at
        once, decide each event in memory and write once (see
        :func:`in_order`). Never raises."""
        return in_order(calls, lambda hook, event: hook.handle(event))

    @classmethod
    def before_batch(cls) -> None:
        """Called by the listener before each batch, outside its unit of
        work, once per plugin (on the class of one of its active hooks):
        e.g. replay the plugin's spool, which is never replayed inside a
        unit. May raise (logged; the batch goes on)."""

    @classmethod
    def runs(cls, phase: Phase) -> bool:
        """Whether hooks of this class run for ``phase`` now: a handler is
        defined and the plugin enabled. A subclass may narrow it further
        by its own configuration (call ``super().runs(phase)``)."""
        return ((cls._handles_pre if phase is _PRE else cls._handles_post)
                and cls.hook_point is not None
                and config.is_enabled(cls.plugin_name))

    def active(self, phase: Phase) -> bool:
        """Whether this hook runs for ``phase``; never raises (Nova reads
        ``pre``/``post`` outside its ``try``)."""
        try:
            return self.runs(phase)
        except Exception:
            LOG.exception('novahooks: cannot tell whether %s runs; it does '
                          'not', self._names.get(phase, type(self).__name__))
            return False

    @property
    def pre(self) -> Optional[Callable[..., None]]:
        """Nova's ``pre`` entry, or ``None`` so Nova skips this hook."""
        return self._run_pre if self.active(_PRE) else None

    @property
    def post(self) -> Optional[Callable[..., None]]:
        """Nova's ``post`` entry, or ``None`` so Nova skips this hook."""
        return self._run_post if self.active(_POST) else None

    def _run_pre(self, *args: Any, **kwargs: Any) -> None:
        assert self.hook_point is not None
        self.handle(HookEvent(self.hook_point, _PRE, args, kwargs))

    def _run_post(self, rv: Any, *args: Any, **kwargs: Any) -> None:
        assert self.hook_point is not None
        self.handle(HookEvent(self.hook_point, _POST, args, kwargs, rv))

    def handle(self, event: HookEvent,
               handler: Optional[Callable[[HookEvent], Optional[str]]] = None
               ) -> Outcome:
        """Run this hook's handler for ``event`` (or ``handler``: the same
        work done another way, e.g. in a batch), guarded (never raises
        except an allowed veto); returns the outcome (``ok``,
        ``unchanged``, ``veto``, ``bad_input`` or ``error``). Used by Nova
        via pre/post, by the core dispatcher, which shares one event among
        all plugins, and by the notification listener.

        The one owner of the plugin's memory of unchanged calls: with
        :attr:`skips_unchanged`, a call equal to the one remembered is
        ``unchanged`` without running the handler; what the handler
        returns as :class:`Handled` is remembered (or forgotten)."""
        pre = event.phase is _PRE
        name = self._name_pre if pre else self._name_post
        if self.skips_unchanged and unchanged(self.plugin_name, event):
            timing.skipped(name, 'unchanged', lambda: event.instance_uuid)
            return _UNCHANGED
        if handler is None:
            handler = self.handle_pre if pre else self.handle_post
        return guarded(
            name, self._remembering, handler, event,
            veto_allowed=pre and event.hook in VETOABLE,
            instance_uuid=lambda: event.instance_uuid,
            secrets=lambda: event.secrets)[0]

    def _remembering(self, handler: Callable[[HookEvent], Optional[str]],
                     event: HookEvent) -> Optional[str]:
        """``handler(event)``, then what its :class:`Handled` result
        tells remembered (inside the guard)."""
        summary = handler(event)
        if isinstance(summary, Handled):
            if summary.forget:
                SEEN.forget(self.plugin_name, event.instance_uuid)
            else:
                SEEN.remember(self.plugin_name, event, summary.unchanged_for)
        return summary

    def is_unchanged(self, event: HookEvent) -> bool:
        """Whether this plugin remembers an equal call for the instance
        (from a :class:`Handled` result); never raises. For handlers of
        hooks without :attr:`skips_unchanged` that still tell an
        unchanged call apart (a summary, not an ``unchanged`` outcome)."""
        return unchanged(self.plugin_name, event)

    @classmethod
    def forget_unchanged(cls, instance_uuids: Iterable[Optional[str]]
                         ) -> None:
        """Forget what this plugin remembered of these instances: their
        next calls are handled (e.g. a batch whose writes failed after
        its handlers returned :class:`Handled`)."""
        for uuid in instance_uuids:
            SEEN.forget(cls.plugin_name, uuid)


def in_order(calls: Sequence[Tuple[NovaHook, HookEvent]],
             handle: Callable[[NovaHook, HookEvent], Outcome]
             ) -> List[Outcome]:
    """``handle(hook, event)`` for each call, in order; once an instance's
    event fails (``error``), that instance's later events are not handled:
    their outcome is ``skipped`` (the listener keeps their messages behind
    the failed one)."""
    outcomes: List[Outcome] = []
    failed = set()
    for hook, event in calls:
        uuid = instance_key(event)
        if uuid is not None and uuid in failed:
            outcomes.append(Outcome.SKIPPED)
            continue
        outcome = handle(hook, event)
        if outcome is _ERROR and uuid is not None:
            failed.add(uuid)
        outcomes.append(outcome)
    return outcomes


def instance_key(event: HookEvent) -> Optional[str]:
    """The UUID of the instance ``event`` is about (a create's: its first
    instance's); ``None`` when it cannot be told. Never raises."""
    try:
        uuid = event.instance_uuid
        if uuid is None and event.hook is HookPoint.CREATE_INSTANCE:
            uuid = next((i.uuid for i in event.instances if i.uuid), None)
        return uuid
    except Exception:
        return None
