"""Reading the fields of whatever Nova hands over, never lazily.

Nova objects (whose unset fields must not be touched: reading one
triggers a lazy load), plain dicts and Nova's network-model dicts are read
alike; a schema reads and converts several fields at once.
"""

import collections.abc
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Sequence,
    Tuple,
)

MISSING = object()
SCALARS = (str, int, float, bool)
MAPPING = collections.abc.Mapping  # isinstance() on typing.Mapping is slow
EMPTY: Mapping[str, Any] = {}


class BadInput(ValueError):
    """Nova handed over a value of a kind no release ever passed."""


_OBJ_PREFIX = '_obj_'


def read_field(obj: Any, name: str, default: Any = None) -> Any:
    """Read ``name`` from a Nova object, dict or plain object, never lazily.

    Nova objects answer ``obj_attr_is_set``; a field they have not loaded is
    reported as ``default`` instead of being fetched from the database. A
    set field is read where oslo.versionedobjects keeps it (``_obj_<name>``
    in the instance's ``__dict__``: the same value, without the field's
    getter or ``obj_attr_is_set``, which rebuilds the field list per call);
    a declared field absent from there is not set.
    """
    if obj is None:
        return default
    try:
        if isinstance(obj, dict):  # dicts, and Nova's network-model dicts
            return obj.get(name, default)
        if isinstance(obj, MAPPING):
            return obj.get(name, default)
        is_set = getattr(obj, 'obj_attr_is_set', None)
        if is_set is None:
            return getattr(obj, name, default)
        found = _stored(obj, name)
        if found is _UNSET:
            return default
        if found is not MISSING:
            return found
        if not is_set(name):
            return default
        return getattr(obj, name, default)
    except Exception:
        return default


def _stored(obj: Any, name: str) -> Any:
    """A versioned object's field as stored (``_obj_<name>``), or
    :data:`_UNSET` for a declared field not set, or ``MISSING`` when only
    the object can tell (an extra field, another kind of object)."""
    stored = getattr(obj, '__dict__', None)
    if stored is None:
        return MISSING
    found = stored.get(_OBJ_PREFIX + name, MISSING)
    if found is MISSING and _declared(obj, name):
        return _UNSET
    return found


#: :func:`_stored`: a declared field that is not set.
_UNSET = object()


def _declared(obj: Any, name: str) -> bool:
    """Whether ``name`` is one of the versioned object's own fields."""
    fields = getattr(type(obj), 'fields', None)
    return isinstance(fields, dict) and name in fields


def read_fields(obj: Any, names: Sequence[str]) -> List[Any]:
    """:func:`read_field` for several names at once (``None`` if unset)."""
    try:
        if isinstance(obj, dict) or isinstance(obj, MAPPING):
            get = obj.get
            return [get(name) for name in names]
        is_set = getattr(obj, 'obj_attr_is_set', None)
        if is_set is None:
            return [getattr(obj, name, None) for name in names]
        stored = getattr(obj, '__dict__', None) or EMPTY
        found = []
        for name in names:
            value = stored.get(_OBJ_PREFIX + name, MISSING)
            if value is MISSING:
                value = (None if _declared(obj, name) or not is_set(name)
                         else getattr(obj, name, None))
            found.append(value)
        return found
    except Exception:  # one field failed: read them one by one
        return [read_field(obj, name) for name in names]



def object_list(value: Any) -> Any:
    """The items of an ``ObjectList`` (its ``objects``); lists, tuples and
    anything else as they are."""
    if value is None or isinstance(value, (list, tuple)):
        return value
    return read_field(value, 'objects', value)


def items(value: Any) -> Iterable[Any]:
    """The entries of a list or tuple; anything else has none."""
    if isinstance(value, (list, tuple)):
        return value
    return ()


def mapping(value: Any) -> Mapping[str, Any]:
    """Network-model entries are dicts (Nova's ``Model`` subclasses dict);
    anything else reads as empty."""
    return value if isinstance(value, MAPPING) else EMPTY


def require_object(value: Any, what: str) -> None:
    """Refuse a scalar or a list where a Nova object or dict is required."""
    if isinstance(value, SCALARS) or isinstance(value, (bytes, list, tuple)):
        raise BadInput('%s is a %s, expected a Nova object or dict'
                       % (what, type(value).__name__))


Schema = Tuple[Tuple[str, ...], Tuple[Callable[[Any], Any], ...]]


def schema(**converters: Callable[[Any], Any]) -> Schema:
    """Field names and the converter of each, in order."""
    return tuple(converters), tuple(converters.values())


def convert(obj: Any, fields: Schema) -> Dict[str, Any]:
    """Read and convert every field of a schema."""
    names, converters = fields
    return {name: conv(raw) for name, conv, raw
            in zip(names, converters, read_fields(obj, names))}
