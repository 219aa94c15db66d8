"""A bounded memory: at most ``size`` entries, the least recently used
forgotten first.

Plugins remember per-instance facts in memory (what was last synced, what
a delete's ``pre`` saw for its ``post``); a cloud's instances come and go,
so every such memory is bounded. Thread-safe; each operation is O(1).
"""

import collections
import threading
from typing import Generic, Hashable, Optional, TypeVar, Union, overload

K = TypeVar('K', bound=Hashable)
V = TypeVar('V')
D = TypeVar('D')


class LRU(Generic[K, V]):
    """A mapping of at most ``size`` entries."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError('an LRU needs room for one entry')
        self.size = size
        self._data: collections.OrderedDict[K, V] = (
            collections.OrderedDict())
        self._lock = threading.Lock()

    @overload
    def get(self, key: K) -> Optional[V]: ...

    @overload
    def get(self, key: K, default: D) -> Union[V, D]: ...

    def get(self, key: K, default: Optional[D] = None
            ) -> Union[V, D, None]:
        """The value of ``key`` (now the most recently used), or
        ``default``."""
        with self._lock:
            try:
                value = self._data[key]
            except KeyError:
                return default
            self._data.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        """Remember ``value`` for ``key``, forgetting the least recently
        used entry when full."""
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            if len(self._data) > self.size:
                self._data.popitem(last=False)

    @overload
    def pop(self, key: K) -> Optional[V]: ...

    @overload
    def pop(self, key: K, default: D) -> Union[V, D]: ...

    def pop(self, key: K, default: Optional[D] = None
            ) -> Union[V, D, None]:
        """Forget ``key``; its value, or ``default``."""
        with self._lock:
            return self._data.pop(key, default)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data
