"""Keep secrets out of log lines, error messages and stored state.

Two layers: oslo.utils' ``mask_password`` for ``key=value`` shaped text,
and the actual secret values of the call at hand (admin password, user
data, key data, injected file contents, volume ``connection_info``), which
are replaced wherever they appear, however they were formatted.
"""

from typing import Any, Iterable, List, Mapping

from oslo_utils import strutils

from novahooks_core import normalize

MASK = '***'
SECRET_ARGS = ('admin_password', 'user_data', 'key_data', 'injected_files')
SECRET_FIELDS = ('connection_info',)
_BDM_ARGS = ('block_device_mapping', 'bdms')
_MIN_SECRET_LEN = 4


def _texts(value: Any) -> Iterable[str]:
    if isinstance(value, (bytes, bytearray)):
        yield value.decode('utf-8', 'replace')
    elif isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _texts(item)


def secret_values(values: Mapping[str, Any]) -> List[str]:
    """Every secret string in a hooked call's bound arguments."""
    found: List[str] = []
    for name in SECRET_ARGS:
        found.extend(_texts(values.get(name)))
    for name in ('user_data', 'key_data'):
        found.extend(_texts(normalize.read_field(values.get('instance'),
                                                 name)))
    for name in _BDM_ARGS:
        bdms = values.get(name)
        bdms = normalize.read_field(bdms, 'objects', bdms)
        if isinstance(bdms, (list, tuple)):
            for bdm in bdms:
                for field in SECRET_FIELDS:
                    found.extend(_texts(normalize.read_field(bdm, field)))
    # Longest first, so a secret containing another is masked whole.
    return sorted({s for s in found if len(s) >= _MIN_SECRET_LEN},
                  key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with known secret values and password-like values masked."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return strutils.mask_password(text, secret=MASK)


def mask_mapping(values: Mapping[str, Any]) -> Mapping[str, Any]:
    """A copy of ``values`` with secret keys masked (recursively)."""
    masked = dict(strutils.mask_dict_password(dict(values), secret=MASK))
    for name in SECRET_ARGS + SECRET_FIELDS:
        if masked.get(name):
            masked[name] = MASK
    return masked
