"""Nova's own versioned-notification samples, to test handlers with.

The nova sdist on PyPI ships them (``doc/notification_samples/*.json``,
with ``$ref``s into ``common_payloads/``). :func:`fetch` downloads the sdist
once into a cache directory and unpacks only the samples; :func:`load`
resolves the references the way Nova's own tests do (the keys beside a
``$ref`` override the referenced document, recursively)::

    directory = samples.fetch('34.0.0')
    create_end = samples.load(directory, 'instance-create-end')

The sdist is taken from the package index directly (its simple API, the
file's sha256 checked), not through ``pip download``: pip would prepare the
package's metadata, which for a Nova newer than the running Python (Nova 34
needs 3.11) fails, and operators test their handlers on Python 3.8 too.
"""

import copy
import hashlib
from html import parser as html_parser
import json
import os
import pathlib
import posixpath
import shutil
import tarfile
import tempfile
from typing import Any, Dict, List, Optional, Sequence, Tuple
from urllib import parse, request

#: The newest Nova release whose samples the suite uses.
DEFAULT_RELEASE = '34.0.0'

#: The package index (PEP 503/691 simple API): ``$NOVAHOOKS_INDEX_URL``,
#: else ``$PIP_INDEX_URL``, else PyPI.
DEFAULT_INDEX = 'https://pypi.org/simple'

_PREFIX = 'doc/notification_samples/'


def cache_dir() -> pathlib.Path:
    """``$NOVAHOOKS_SAMPLES_CACHE``, or ``~/.cache/novahooks/samples``."""
    return pathlib.Path(os.environ.get(
        'NOVAHOOKS_SAMPLES_CACHE',
        os.path.join(os.path.expanduser('~'), '.cache', 'novahooks',
                     'samples')))


def index_url() -> str:
    return (os.environ.get('NOVAHOOKS_INDEX_URL')
            or os.environ.get('PIP_INDEX_URL') or DEFAULT_INDEX)


class _Links(html_parser.HTMLParser):
    """The ``<a href>`` of a PEP 503 project page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: List[str] = []

    def handle_starttag(self, tag: str,
                        attrs: List[Tuple[str, Optional[str]]]) -> None:
        href = dict(attrs).get('href')
        if tag == 'a' and href:
            self.links.append(href)


def sdist_location(release: str, index: Optional[str] = None
                   ) -> Tuple[str, str]:
    """URL and sha256 of ``nova-<release>.tar.gz`` on the index."""
    page = '%s/nova/' % (index or index_url()).rstrip('/')
    wanted = 'nova-%s.tar.gz' % release
    asked = request.Request(page, headers={
        'Accept': 'application/vnd.pypi.simple.v1+json, text/html;q=0.1'})
    with request.urlopen(asked, timeout=60) as answer:
        body = answer.read()
        kind = answer.headers.get('Content-Type', '')
    if 'json' in kind:
        for item in json.loads(body)['files']:
            if item['filename'] == wanted and item['hashes'].get('sha256'):
                return (parse.urljoin(page, item['url']),
                        item['hashes']['sha256'])
    else:
        links = _Links()
        links.feed(body.decode('utf-8', 'replace'))
        for href in links.links:
            url, _, fragment = href.partition('#')
            if (posixpath.basename(parse.urlparse(url).path) == wanted
                    and fragment.startswith('sha256=')):
                return parse.urljoin(page, url), fragment[len('sha256='):]
    raise LookupError('%s with a sha256 is not on %s' % (wanted, page))


def _download(url: str, sha256: str, target: pathlib.Path) -> None:
    digest = hashlib.sha256()
    with request.urlopen(url, timeout=300) as answer, \
            open(str(target), 'wb') as out:
        for chunk in iter(lambda: answer.read(1 << 20), b''):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != sha256:
        raise ValueError('%s: sha256 %s, the index says %s'
                         % (url, digest.hexdigest(), sha256))


def sample_members(tar: tarfile.TarFile, release: str
                   ) -> List[Tuple[tarfile.TarInfo, str]]:
    """The sample files of the sdist and their paths below the samples
    folder; refuses any member whose path would leave it."""
    prefix = 'nova-%s/%s' % (release, _PREFIX)
    found = []
    for member in tar.getmembers():
        if not member.name.startswith(prefix):
            continue
        relative = member.name[len(prefix):]
        normal = posixpath.normpath(relative) if relative else ''
        if (not member.isfile() and not member.isdir()) or (
                normal.startswith(('/', '../')) or normal == '..'
                or '\\' in relative):
            raise ValueError('unsafe member in the nova sdist: %r'
                             % member.name)
        if member.isfile():
            found.append((member, normal))
    return found


def fetch(release: str = DEFAULT_RELEASE,
          cache: Optional[pathlib.Path] = None) -> pathlib.Path:
    """The ``notification_samples`` directory of nova ``release``,
    downloaded from the package index on first use (works from any Python
    novahooks supports, whatever Python that Nova needs)."""
    target = (cache or cache_dir()) / ('nova-%s' % release)
    samples = target / 'notification_samples'
    if (samples / 'common_payloads').is_dir():
        return samples
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=str(target)) as download:
        url, sha256 = sdist_location(release)
        archive = pathlib.Path(download) / ('nova-%s.tar.gz' % release)
        _download(url, sha256, archive)
        unpacked = pathlib.Path(download) / 'unpacked'
        with tarfile.open(str(archive)) as tar:
            for member, relative in sample_members(tar, release):
                path = unpacked.joinpath(*relative.split('/'))
                path.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                with source, open(str(path), 'wb') as out:
                    shutil.copyfileobj(source, out)
        if not (unpacked / 'common_payloads').is_dir():
            raise ValueError('nova %s has no %s' % (release, _PREFIX))
        try:
            os.replace(str(unpacked), str(samples))
        except OSError:
            if not (samples / 'common_payloads').is_dir():
                raise  # not a concurrent fetch that got there first
    return samples


def _merge(base: Dict[str, Any], overrides: Dict[str, Any]) -> None:
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def _resolve(value: Any, directory: pathlib.Path) -> Any:
    if isinstance(value, list):
        return [_resolve(item, directory) for item in value]
    if not isinstance(value, dict):
        return value
    if '$ref' not in value:
        return {key: _resolve(item, directory) for key, item in value.items()}
    overrides = dict(value)
    path = directory / overrides.pop('$ref').partition('#')[0]
    resolved = _resolve(json.loads(path.read_text()), path.parent)
    _merge(resolved, _resolve(overrides, directory))
    return resolved


def load(directory: pathlib.Path, name: str) -> Dict[str, Any]:
    """Sample ``name`` (e.g. ``instance-create-end``) with every ``$ref``
    resolved: ``{"event_type", "payload", "priority", "publisher_id"}``."""
    path = directory / (name + '.json')
    return copy.deepcopy(_resolve(json.loads(path.read_text()),
                                  path.parent))


def notification(directory: pathlib.Path, name: str, uuid: str,
                 hostname: str = 'web-1',
                 ips: Sequence[Sequence[Any]] = (),
                 devices: Sequence[Dict[str, Any]] = (),
                 **fields: Any) -> Dict[str, Any]:
    """Sample ``name`` made about instance ``uuid``: ``ips`` are (port,
    MAC, address, IP version) and ``devices`` ``BlockDevicePayload``
    fields; ``fields`` override any other payload field."""
    found = load(directory, name)
    ip_template = load(directory, 'common_payloads/IpPayload')
    device_template = load(directory, 'common_payloads/BlockDevicePayload')
    addresses = []
    for port, mac, address, version in ips:
        ip = copy.deepcopy(ip_template)
        ip['nova_object.data'].update(
            port_uuid=port, mac=mac, address=address, version=version,
            device_name='tap' + port[:11])
        addresses.append(ip)
    block_devices = []
    for device in devices:
        item = copy.deepcopy(device_template)
        item['nova_object.data'].update(device)
        block_devices.append(item)
    found['payload']['nova_object.data'].update(
        uuid=uuid, host_name=hostname, display_name=hostname,
        ip_addresses=addresses, block_devices=block_devices, **fields)
    return found


__all__ = ['DEFAULT_RELEASE', 'cache_dir', 'fetch', 'load', 'notification']
