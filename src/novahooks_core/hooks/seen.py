"""What each plugin last handled per instance: an unchanged call (Nova's
periodic heal, every instance, every minute) is recognised in memory,
before anything is normalized.

:meth:`NovaHook.handle <novahooks_core.hooks.base.NovaHook.handle>` owns
it: it remembers what a handler's
:class:`~novahooks_core.hooks.base.Handled` result says and skips an equal
call of a hook with ``skips_unchanged``; plugins never import this module.

The key is :attr:`HookEvent.unchanged_key`: computed once per call and
shared by every plugin behind the dispatcher; equal keys mean equal
normalized inputs. One bounded memory per process, shared by the plugins
(each under its own name); an entry is trusted for a time the plugin
chooses, after which the plugin checks its state again (another process
may have changed it meanwhile). A new configuration (another state, other
backends) starts with an empty memory.
"""

import time
from typing import Any, Hashable, Optional, Tuple

from novahooks_core import config
from novahooks_core.state.lru import LRU

#: (plugin, instance) entries kept per process.
LIMIT = 50000


class Seen:
    """The memory; see the module docstring."""

    def __init__(self, size: int = LIMIT) -> None:
        self._memory: LRU[Tuple[str, str], Tuple[Hashable, float]] = LRU(
            size)
        self._conf: Any = None
        #: The last (key, stored key) found equal.
        self._same: Tuple[Any, Any] = (None, None)

    def _current(self) -> LRU[Tuple[str, str], Tuple[Hashable, float]]:
        conf = config.current()
        if conf is not self._conf:
            self._memory.clear()
            self._conf = conf
        return self._memory

    def unchanged(self, plugin: str, event: Any) -> bool:
        """Whether ``plugin`` already handled a call with this event's key
        for its instance, recently enough."""
        key = event.unchanged_key
        if key is None:
            return False
        found = self._current().get((plugin, event.instance_uuid))
        if found is None or found[1] <= time.monotonic():
            return False
        stored = found[0]
        # The plugins of one call often remembered the same key (from one
        # earlier call): compare it with this call's once.
        same = self._same
        if same[0] is key and same[1] is stored:
            return True
        if stored != key:
            return False
        self._same = (key, stored)
        return True

    def remember(self, plugin: str, event: Any, seconds: float) -> None:
        """``plugin`` handled ``event``: an equal one within ``seconds`` is
        unchanged."""
        key = event.unchanged_key
        if key is not None and seconds > 0:
            self._current().put((plugin, event.instance_uuid),
                                (key, time.monotonic() + seconds))

    def forget(self, plugin: str, instance_uuid: Optional[str]) -> None:
        if instance_uuid:
            self._memory.pop((plugin, instance_uuid))

    def clear(self) -> None:
        self._memory.clear()
        self._same = (None, None)

    def __len__(self) -> int:
        return len(self._memory)


#: The process's memory.
SEEN = Seen()


def unchanged(plugin: str, event: Any) -> bool:
    """:meth:`Seen.unchanged` on :data:`SEEN`; never raises (a key that
    cannot be read is not unchanged)."""
    try:
        return SEEN.unchanged(plugin, event)
    except Exception:
        return False
