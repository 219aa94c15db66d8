"""Error isolation and the operator-requested veto.

Nothing a handler raises reaches Nova, except a :class:`Veto` of a
``create_instance`` or ``build_instance`` ``pre`` when ``[DEFAULT]
allow_veto`` is on: that one becomes Nova's own ``FatalHookException``,
which Nova logs and re-raises to refuse the request.
"""

import functools
import logging as std_logging
import threading
import time
import traceback
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Optional,
    Tuple,
    Type,
    TypeVar,
)

from oslo_config import cfg
from oslo_log import log as logging

from novahooks_core import config, extras
from novahooks_core.containment import redact, timing
from novahooks_core.models import Outcome
from novahooks_core.normalize import BadInput

# Read on every guarded call: a module global is faster than an enum
# member's class attribute (about 0.2 µs on Python 3.11).
_OK = Outcome.OK

LOG = logging.getLogger(__name__)

F = TypeVar('F', bound=Callable[..., Any])


class Veto(Exception):
    """Raised by a handler to refuse a create or build.

    The message is shown to the operator (and, through Nova, to the API
    user): say which rule, which value and which limit.
    """


class FatalHookException(Exception):
    """Stand-in for ``nova.hooks.FatalHookException`` where Nova is absent
    (``novahooks_core.FatalHookException`` is Nova's own where it is)."""


_fatal: Optional[Type[Exception]] = None


def fatal_exception_class() -> Type[Exception]:
    """Nova's ``FatalHookException`` when Nova is importable, else ours."""
    global _fatal
    if _fatal is None:
        try:
            from nova.hooks import FatalHookException as nova_fatal
            _fatal = nova_fatal
        except Exception:
            _fatal = FatalHookException
    return _fatal


def _no_uuid() -> Optional[str]:
    return None


def _where(instance_uuid: Callable[[], Optional[str]]) -> str:
    uuid = timing.safe_call(instance_uuid)
    return ' for instance %s' % uuid if uuid else ''


def _traceback(exc: BaseException) -> str:
    return ''.join(traceback.format_exception(type(exc), exc,
                                              exc.__traceback__))


def _scrubbed(render: Callable[[Any], str], value: Any,
              secrets: Callable[[], Iterable[str]]) -> str:
    """``render(value)`` with the call's secrets masked; withheld whole
    when they cannot be listed (the input itself is broken); never raises.
    """
    try:
        return redact.scrub(render(value), secrets())
    except Exception:
        return '(text withheld: the arguments could not be read to mask ' \
               'their secrets)'


def run_guarded(name: str, call: Callable[[], Any], *,
                veto_allowed: bool = False,
                instance_uuid: Callable[[], Optional[str]] = _no_uuid,
                secrets: Callable[[], Iterable[str]] = tuple) -> Any:
    """Run ``call()``, timing and counting it under ``name``; never raise.

    An exception is logged (secrets scrubbed, with the instance UUID) and
    ``None`` returned. A :class:`Veto` is re-raised as Nova's fatal hook
    exception only when ``veto_allowed`` and ``[DEFAULT] allow_veto``.
    ``instance_uuid`` and ``secrets`` are called only when needed: on
    failure, or for a returned summary someone listens to.
    """
    return guarded(name, call, veto_allowed=veto_allowed,
                   instance_uuid=instance_uuid, secrets=secrets)[1]


def guarded(name: str, call: Callable[..., Any], *args: Any,
            veto_allowed: bool = False,
            instance_uuid: Callable[[], Optional[str]] = _no_uuid,
            secrets: Callable[[], Iterable[str]] = tuple
            ) -> Tuple[Outcome, Any]:
    """:func:`run_guarded` of ``call(*args)``, also telling the outcome:
    ``ok``, ``veto``, ``bad_input`` or ``error`` (as counted by
    :mod:`timing`)."""
    started = time.perf_counter()
    outcome, summary = _OK, None
    failure: Optional[BaseException] = None
    try:
        result = call(*args)
        if _failing:
            _recovered(name)
        if isinstance(result, str) and timing.has_listeners():
            summary = _scrubbed(str, result, secrets)
        return outcome, result
    except Veto as veto:
        outcome = Outcome.VETO
        where = _where(instance_uuid)
        reason = _scrubbed(str, veto, secrets)
        summary = 'veto: %s' % reason
        if veto_allowed and config.get().allow_veto:
            LOG.warning('novahooks: %s refused the request%s: %s',
                        name, where, reason)
            raise fatal_exception_class()(reason) from None
        LOG.warning('novahooks: %s would refuse the request%s, but %s: %s',
                    name, where,
                    'allow_veto is off' if veto_allowed else
                    'only create/build pre may refuse', reason)
        return outcome, None
    except BadInput as exc:
        outcome = Outcome.BAD_INPUT
        where = _where(instance_uuid)
        reason = _scrubbed(str, exc, secrets)
        summary = 'bad input: %s' % reason
        LOG.error('novahooks: %s got input it cannot use%s: %s', name,
                  where, reason)
        return outcome, None
    except Exception as exc:
        outcome = Outcome.ERROR
        failure = exc
        summary = ('error: bad configuration value'
                   if isinstance(exc, cfg.ConfigFileValueError)
                   else 'error: %s' % type(exc).__name__)
    finally:
        timing.record(name, outcome, time.perf_counter() - started, summary,
                      instance_uuid)
    # Said outside the except clause: oslo.log appends the exception being
    # handled to an ERROR line, unmasked.
    if isinstance(failure, cfg.ConfigFileValueError):
        switch_off(name, failure)
    else:
        report(name, failure, _where(instance_uuid), secrets)
    return outcome, None


#: What each plugin was last said to fail with, and how many calls failed
#: that way since: plugin name -> [reason, calls].
_failing: Dict[str, List[Any]] = {}
_failing_lock = threading.Lock()


def _reason(exc: BaseException, plugin: str,
            secrets: Callable[[], Iterable[str]]) -> str:
    """What went wrong, in one line: the extra to install, or the
    exception (secrets masked)."""
    found = extras.missing('plugin %s' % plugin, exc, plugin)
    if found is not None:
        return str(found)
    try:
        return redact.one_line(config.describe(exc), secrets())
    except Exception:
        return '%s (text withheld: the arguments could not be read to ' \
            'mask their secrets)' % type(exc).__name__


def report(name: str, exc: BaseException, where: str = '',
           secrets: Callable[[], Iterable[str]] = tuple,
           call: bool = True) -> None:
    """Say that ``name`` (``plugin:hook:phase``, or ``plugin:what``)
    failed with ``exc``: an ERROR line the first time its plugin fails
    this way in this process (a missing extra names its pip line), then
    DEBUG lines only, until the plugin works again (see
    :func:`_recovered`): a plugin that cannot be set up (a state dir it
    cannot write, a database it cannot reach) fails every call the same
    way, and its calls are counted, not flooded. The traceback (secrets
    masked) is logged at DEBUG. ``call``: a call failed (else e.g. a
    set-up step: not counted as a call). Call it outside an ``except``
    clause (oslo.log would append the exception, unmasked). Never
    raises."""
    try:
        _report(name, exc, where, secrets, call)
    except Exception:  # (a logging handler that fails: nothing to say)
        pass


def _report(name: str, exc: BaseException, where: str,
            secrets: Callable[[], Iterable[str]], call: bool) -> None:
    plugin = name.split(':', 1)[0]
    reason = _reason(exc, plugin, secrets)
    with _failing_lock:
        said = _failing.get(plugin)
        repeated = said is not None and said[0] == reason
        if repeated:
            said[1] += call  # type: ignore[index]
        else:
            _failing[plugin] = [reason, int(call)]
    if repeated:
        LOG.debug('novahooks: %s failed%s, as before: %s', name, where,
                  reason)
    else:
        LOG.error('novahooks: %s failed%s: %s; Nova continues. Its plugin\'s '
                  'calls that fail the same way are counted (errors), not '
                  'logged again; debug logging shows each, with its '
                  'traceback', name, where, reason)
    if LOG.isEnabledFor(std_logging.DEBUG):
        LOG.debug('novahooks: %s failed%s:\n%s', name, where,
                  _scrubbed(_traceback, exc, secrets))


def _recovered(name: str) -> None:
    """``name`` worked: if its plugin's calls were failing, say it works
    again, and how many failed meanwhile."""
    plugin = name.split(':', 1)[0]
    with _failing_lock:
        said = _failing.pop(plugin, None)
    if said is not None and said[1]:
        LOG.warning('novahooks: plugin %s works again (%d call(s) failed '
                    'with: %s)', plugin, said[1], said[0])


def reset() -> None:
    """Forget which plugins were said to be failing (tests)."""
    with _failing_lock:
        _failing.clear()


def switch_off(name: str, exc: cfg.ConfigFileValueError) -> None:
    """A value of the plugin's configuration (``name``: its calls',
    ``plugin:...``) cannot be read: every call would fail the same way,
    so the plugin is switched off in this process, with one ERROR saying
    where the value is and what it must be."""
    plugin = name.split(':', 1)[0]
    reason = redact.scrub(config.explain(exc))
    if config.disable(plugin, reason):
        LOG.error('novahooks: plugin %s switched off: %s; fix the value '
                  'and restart', plugin, reason)


def isolated(name: str) -> Callable[[F], F]:
    """Decorator: contain, log, time and count every failure of a function.

    For users' own helpers that must never break the caller; a failing call
    returns ``None``.
    """
    def decorator(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return run_guarded(name, lambda: func(*args, **kwargs))
        return wrapper  # type: ignore[return-value]
    return decorator
