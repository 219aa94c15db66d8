"""Keep secrets out of log lines, error messages and stored state.

Three layers: oslo.utils' ``mask_password`` for ``key=value`` shaped text;
the password of every URL (``scheme://user:password@host``, each host of
oslo.messaging's multi-host URLs too); and the actual secret values at
hand (a call's admin password, user data, key data, injected file
contents, volume ``connection_info``, the context's token; the
configuration's secret options), which are replaced wherever they
appear. Each is also replaced as ``repr`` and JSON would escape it; user
data and injected files (base64 in Nova) also decoded; and of a
``connection_info``, each value under a secret-looking key (an RBD
keyring, a CHAP password, mount options) on its own, since a Nova
object's ``repr`` masks only oslo's password keys in it and the whole
string then no longer matches. A secret too short to be replaced
everywhere without garbling the text (under four characters) is replaced
wherever it stands alone (not inside a longer word or number).
"""

import base64
import binascii
import json
import logging
import re
from typing import Any, Callable, Iterable, List, Mapping, Optional

from oslo_utils import strutils

from novahooks_core import normalize

MASK = '***'
SECRET_ARGS = ('admin_password', 'user_data', 'key_data', 'injected_files')
#: The instance's own secret fields (a delete or a heal has no such args).
INSTANCE_FIELDS = ('user_data', 'key_data')
#: Block devices' secret fields.
SECRET_FIELDS = ('connection_info',)
#: The request context's keystone token.
CONTEXT_FIELDS = ('auth_token',)
#: Arguments Nova passes base64-encoded: their decoded text is secret too.
ENCODED_ARGS = ('user_data', 'injected_files')
#: A ``connection_info`` key holding one of these holds a secret value...
_SECRET_KEY_PARTS = ('password', 'secret', 'key', 'token', 'username',
                     'options')
#: ... unless it names a kind (``secret_type``: ``ceph``, ``auth_method``).
_KIND_SUFFIXES = ('_type', '_method')
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


_URL = re.compile(r'[A-Za-z][A-Za-z0-9+.-]*://[^\s\'"<>]+')


def _mask_netloc(url: str) -> str:
    scheme, _, rest = url.partition('://')
    netloc, slash, path = rest.partition('/')
    hosts = []
    for host in netloc.split(','):
        if '@' in host:
            userinfo, _, where = host.rpartition('@')
            if ':' in userinfo:
                userinfo = userinfo.split(':', 1)[0] + ':' + MASK
            host = userinfo + '@' + where
        hosts.append(host)
    return '%s://%s%s%s' % (scheme, ','.join(hosts), slash, path)


def mask_url(text: str) -> str:
    """``text`` with the password of every URL in it masked."""
    if '://' not in text:
        return text
    return _URL.sub(lambda found: _mask_netloc(found.group(0)), text)


def _decoded(text: str) -> List[str]:
    """The text a base64 ``text`` encodes (none when it is not base64 of
    readable text)."""
    try:
        plain = base64.b64decode(text, validate=True).decode('utf-8')
    except (binascii.Error, ValueError):
        return []
    readable = all(c.isprintable() or c.isspace() for c in plain)
    return [plain] if readable and len(plain) >= _MIN_SECRET_LEN else []


def _is_secret_key(key: Any) -> bool:
    name = str(key).lower()
    return (any(part in name for part in _SECRET_KEY_PARTS)
            and not name.endswith(_KIND_SUFFIXES))


def _leaves(value: Any, secret: bool = False) -> Iterable[str]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _leaves(item, secret or _is_secret_key(key))
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item, secret)
    elif secret and isinstance(value, str):
        yield value


def _secret_leaves(text: str) -> List[str]:
    """The values under secret-looking keys of a JSON ``text`` (a
    ``connection_info``)."""
    try:
        return list(_leaves(json.loads(text)))
    except (ValueError, TypeError, RecursionError):
        return []


def _escaped(secret: str) -> List[str]:
    """``secret`` as ``repr`` and JSON show it inside quotes."""
    return [secret, repr(secret)[1:-1], json.dumps(secret)[1:-1]]


def secret_values(values: Mapping[str, Any]) -> List[str]:
    """Every secret string in a hooked call's bound arguments."""
    found: List[str] = []
    for name in SECRET_ARGS:
        found.extend(_texts(values.get(name)))
    for name in ENCODED_ARGS:
        for text in _texts(values.get(name)):
            found.extend(_decoded(text))
    for name in INSTANCE_FIELDS:
        for text in _texts(normalize.read_field(values.get('instance'),
                                                name)):
            found.append(text)
            if name in ENCODED_ARGS:
                found.extend(_decoded(text))
    for name in CONTEXT_FIELDS:
        found.extend(_texts(normalize.read_field(values.get('context'),
                                                 name)))
    for name in _BDM_ARGS:
        bdms = normalize.object_list(values.get(name))
        if isinstance(bdms, (list, tuple)):
            for bdm in bdms:
                for field in SECRET_FIELDS:
                    for text in _texts(normalize.read_field(bdm, field)):
                        found.append(text)
                        found.extend(_secret_leaves(text))
    every = {form for text in found if text for form in _escaped(text)}
    # Longest first, so a secret containing another is masked whole.
    return sorted(every, key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with known secret values, URL passwords and password-like
    values masked."""
    for secret in secrets:
        if not secret or secret not in text:
            continue
        if len(secret) >= _MIN_SECRET_LEN:
            text = text.replace(secret, MASK)
        else:
            text = re.sub(r'(?<![A-Za-z0-9])%s(?![A-Za-z0-9])'
                          % re.escape(secret), MASK, text)
    return mask_key_values(mask_url(text))


def mask_key_values(text: str) -> str:
    """``text`` with oslo's password-like ``key=value`` values masked."""
    return strutils.mask_password(text, secret=MASK)


def one_line(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` masked (:func:`scrub`), then on one line: masked first, as
    a secret may span lines (user data)."""
    return ' '.join(scrub(text, secrets).split())


def mask_mapping(values: Mapping[str, Any]) -> Mapping[str, Any]:
    """A copy of ``values`` with secret keys masked (recursively)."""
    masked = dict(strutils.mask_dict_password(dict(values), secret=MASK))
    for name in SECRET_ARGS + SECRET_FIELDS:
        if masked.get(name):
            masked[name] = MASK
    return masked


def _url_passwords(url: str) -> List[str]:
    """The passwords of a URL's hosts (a URL without one hides nothing)."""
    netloc = url.partition('://')[2].partition('/')[0]
    return [host.rpartition('@')[0].split(':', 1)[1]
            for host in netloc.split(',')
            if ':' in host.rpartition('@')[0]]


#: Where :func:`configured_secrets` keeps its answer: in oslo.config's own
#: value cache, which it empties whenever a value or an option changes.
_CACHE_KEY = ('novahooks', 'configured secrets')


def configured_secrets(conf: Any) -> List[str]:
    """The values of every ``secret`` option registered in ``conf``
    (passwords, keys; of a URL, its passwords), longest first."""
    cache = getattr(conf, '_ConfigOpts__cache', None)
    if not isinstance(cache, dict):
        return _configured_secrets(conf)
    found = cache.get(_CACHE_KEY)
    if found is None:
        found = cache[_CACHE_KEY] = _configured_secrets(conf)
    return list(found)


def _configured_secrets(conf: Any) -> List[str]:
    found: List[str] = []

    def collect(opts: Mapping[str, Any], read: Any) -> None:
        for name, info in list(opts.items()):
            opt = info.get('opt') if isinstance(info, Mapping) else None
            if opt is None or not getattr(opt, 'secret', False):
                continue
            try:
                value = read(name)
            except Exception:
                continue  # an invalid value is not shown either
            for text in _texts(value):
                found.extend(_url_passwords(text) if '://' in text
                             else [text])

    try:
        collect(getattr(conf, '_opts', {}), lambda name: conf[name])
        for group_name, group in list(getattr(conf, '_groups', {}).items()):
            collect(getattr(group, '_opts', {}),
                    lambda name, g=group_name: conf[g][name])
    except Exception:
        pass  # never let masking itself break a command or a hook
    return sorted({s for s in found if s}, key=len, reverse=True)


class ScrubbingFormatter(logging.Formatter):
    """Wraps a handler's formatter: every formatted line (its traceback
    and oslo.log's error summary too) is scrubbed of URL passwords,
    password-like values and ``secrets()``."""

    def __init__(self, inner: Optional[logging.Formatter],
                 secrets: Callable[[], Iterable[str]] = tuple) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        text = self.inner.format(record)
        try:
            return scrub(text, list(self.secrets()))
        except Exception:
            return '(log line withheld: it could not be scrubbed of secrets)'


def scrub_handlers(logger: logging.Logger,
                   secrets: Callable[[], Iterable[str]] = tuple) -> None:
    """Make every handler of ``logger`` scrub what it writes."""
    for handler in logger.handlers:
        if not isinstance(handler.formatter, ScrubbingFormatter):
            handler.setFormatter(ScrubbingFormatter(handler.formatter,
                                                    secrets))
