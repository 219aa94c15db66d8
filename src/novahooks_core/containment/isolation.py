"""Error isolation and the operator-requested veto.

Nothing a handler raises reaches Nova, except a :class:`Veto` of a
``create_instance`` or ``build_instance`` ``pre`` when ``[DEFAULT]
allow_veto`` is on: that one becomes Nova's own ``FatalHookException``,
which Nova logs and re-raises to refuse the request.
"""

import functools
import time
import traceback
from typing import Any, Callable, Iterable, Optional, Tuple, Type, TypeVar

from oslo_config import cfg
from oslo_log import log as logging

from novahooks_core import config
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
    try:
        result = call(*args)
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
    except cfg.ConfigFileValueError as exc:
        outcome = Outcome.ERROR
        summary = 'error: bad configuration value'
        _disable(name, exc)
        return outcome, None
    except Exception as exc:
        outcome = Outcome.ERROR
        where = _where(instance_uuid)
        text = _scrubbed(_traceback, exc, secrets)
        summary = 'error: %s' % type(exc).__name__
        LOG.error('novahooks: %s failed%s; Nova continues.\n%s', name,
                  where, text)
        return outcome, None
    finally:
        timing.record(name, outcome, time.perf_counter() - started, summary,
                      instance_uuid)


def _disable(name: str, exc: cfg.ConfigFileValueError) -> None:
    """A value of the plugin's configuration cannot be read: every call
    would fail the same way, so the plugin is switched off in this
    process, with one ERROR naming the option (``check`` names its
    section)."""
    plugin = name.split(':', 1)[0]
    reason = redact.scrub(config.explain(exc))
    if config.disable(plugin, reason):
        LOG.error('novahooks: plugin %s switched off: %s; fix the value '
                  '("novahooks check" names the section) and restart',
                  plugin, reason)


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
