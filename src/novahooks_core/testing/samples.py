"""Nova's own versioned-notification samples, to test handlers with.

The nova sdist on PyPI ships them (``doc/notification_samples/*.json``,
with ``$ref``s into ``common_payloads/``). :func:`fetch` downloads the sdist
once into a cache directory and unpacks only the samples; :func:`load`
resolves the references the way Nova's own tests do (the keys beside a
``$ref`` override the referenced document, recursively)::

    directory = samples.fetch('34.0.0')
    create_end = samples.load(directory, 'instance-create-end')
"""

import copy
import json
import os
import pathlib
import subprocess
import sys
import tarfile
import tempfile
from typing import Any, Dict, Optional, Sequence

#: The newest Nova release whose samples the suite uses.
DEFAULT_RELEASE = '34.0.0'


def cache_dir() -> pathlib.Path:
    """``$NOVAHOOKS_SAMPLES_CACHE``, or ``~/.cache/novahooks/samples``."""
    return pathlib.Path(os.environ.get(
        'NOVAHOOKS_SAMPLES_CACHE',
        os.path.join(os.path.expanduser('~'), '.cache', 'novahooks',
                     'samples')))


def fetch(release: str = DEFAULT_RELEASE,
          cache: Optional[pathlib.Path] = None) -> pathlib.Path:
    """The ``notification_samples`` directory of nova ``release``,
    downloaded (``pip download --no-binary :all:``) on first use."""
    target = (cache or cache_dir()) / ('nova-%s' % release)
    samples = target / 'notification_samples'
    if (samples / 'common_payloads').is_dir():
        return samples
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=str(target)) as download:
        subprocess.run(
            [sys.executable, '-m', 'pip', 'download', '-q', '--no-deps',
             '--no-binary', ':all:', '-d', download, 'nova==%s' % release],
            check=True, stdin=subprocess.DEVNULL)
        (archive,) = pathlib.Path(download).glob('nova-*.tar.gz')
        prefix = 'nova-%s/doc/notification_samples/' % release
        unpacked = pathlib.Path(download) / 'unpacked'
        with tarfile.open(str(archive)) as tar:
            for member in tar.getmembers():
                if member.isfile() and member.name.startswith(prefix):
                    member.name = member.name[len(prefix):]
                    tar.extract(member, str(unpacked))
        os.replace(str(unpacked), str(samples))
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
