"""Coercing scalars: a malformed or missing value becomes ``None`` (or
empty), never an exception."""

import datetime
import ipaddress
from typing import Any, Mapping, Optional, Tuple

from novahooks_core.normalize.fields import MAPPING, SCALARS, read_field


def as_str(value: Any) -> Optional[str]:
    """A non-empty string, or ``None``."""
    if type(value) is str:
        return value or None
    if value is None or isinstance(value, (bytes, bytearray)):
        return None
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:  # Nova's DateTimeField means UTC
            value = value.replace(tzinfo=datetime.timezone.utc)
        return str(value.isoformat())
    if isinstance(value, SCALARS):
        text = str(value)
        return text or None
    return None


def as_address(value: Any) -> Optional[str]:
    """An IP address in canonical text from a string or a
    ``netaddr.IPAddress`` (Nova's ``IPAddressField``), or ``None``."""
    if value is None or isinstance(value, (bytes, bytearray)):
        return None
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        return None


def as_int(value: Any) -> Optional[int]:
    """An integer, or ``None`` for anything that is not one."""
    if type(value) is int:
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def as_float(value: Any) -> Optional[float]:
    """A float, or ``None``."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def as_bool(value: Any) -> Optional[bool]:
    """A boolean from a bool or Nova's usual strings, or ``None``."""
    if value is True or value is False or value is None:
        return value
    if isinstance(value, int):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ('true', 't', 'yes', 'y', 'on', '1'):
            return True
        if lowered in ('false', 'f', 'no', 'n', 'off', '0'):
            return False
    return None


def as_str_map(value: Any) -> Mapping[str, str]:
    """A ``str -> str`` mapping; entries that are not scalars are dropped."""
    if not isinstance(value, MAPPING):
        return {}
    result = {}
    for key, item in value.items():
        text = as_str(item) if item is not None else ''
        if isinstance(key, str) and text is not None:
            result[key] = text
    return result


def as_str_tuple(value: Any) -> Tuple[str, ...]:
    """A tuple of strings from a list of strings or of named things."""
    if value is None or isinstance(value, (str, bytes, MAPPING)):
        value = [value] if isinstance(value, str) else []
    try:
        items = list(value)
    except TypeError:
        return ()
    result = []
    for item in items:
        text = as_str(item)
        if text is None:
            text = as_str(read_field(item, 'tag') or read_field(item, 'name'))
        if text is not None:
            result.append(text)
    return tuple(result)
