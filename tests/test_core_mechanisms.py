"""Core mechanisms every plugin shares: the bounded memory, secret
scrubbing of URLs and short values, the journal, and fetching Nova's
notification samples from any supported Python."""

import hashlib
import io
import pathlib
import socket
import subprocess
import sys
import tarfile
import threading
import time
from typing import Dict, Iterator, Optional

import pytest

from novahooks_core.containment import redact
from novahooks_core.state import lru
from novahooks_core.state.journal import Journal
from novahooks_core.testing import samples
from tests.servers import free_tcp_port


def test_the_lru_keeps_its_bound_under_ten_times_its_size() -> None:
    memory: lru.LRU[int, int] = lru.LRU(100)
    for key in range(1000):
        memory.put(key, key * 2)
        if key % 3 == 0:
            assert memory.get(key // 2) in (None, key // 2 * 2)
        assert len(memory) <= 100
    assert memory.get(999) == 1998 and memory.get(899) is None
    memory.get(900)  # used: survives the next insert, 901 does not
    memory.put(1000, 0)
    assert 900 in memory and 901 not in memory
    assert memory.pop(900) == 1800 and memory.pop(900, 'x') == 'x'


def test_the_lru_is_safe_across_threads() -> None:
    memory: lru.LRU[int, int] = lru.LRU(50)

    def churn(offset: int) -> None:
        for key in range(5000):
            memory.put(offset + key, key)
            memory.get(offset + key // 2)
            memory.pop(offset + key - 10)
    threads = [threading.Thread(target=churn, args=(n * 100000,))
               for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(memory) <= 50


@pytest.mark.parametrize('text, hidden', [
    ('rabbit://nova:CanaryPw1@10.0.0.1:5672/', 'CanaryPw1'),
    ('rabbit://a:pw-one@h1:5672,b:pw-two@h2:5672/nova', 'pw-'),
    ("Could not parse rfc1738 URL from string "
     "'postgresql://u:Cana@ry@db/x'", 'Cana@ry'),
    ('connect to mysql+pymysql://root:s3cr3t@db failed', 's3cr3t'),
])
def test_url_passwords_are_masked(text: str, hidden: str) -> None:
    scrubbed = redact.scrub(text)
    assert hidden not in scrubbed
    assert '***' in scrubbed


def test_short_secrets_are_masked_where_they_stand_alone() -> None:
    text = "TypeError: bad admin_pass 'xy' for 'xyz', line 12 of abc"
    scrubbed = redact.scrub(text, ['xy', '12'])
    assert "'xy'" not in scrubbed and 'line 12' not in scrubbed
    assert "'xyz'" in scrubbed  # inside a longer word: not the secret
    assert redact.secret_values({'admin_password': 'a1'}) == ['a1']


def test_configured_secret_options_are_listed() -> None:
    from oslo_config import cfg
    conf = cfg.ConfigOpts()
    conf.register_opts([cfg.StrOpt('url', secret=True),
                        cfg.StrOpt('plain')], group='g')
    conf.register_opt(cfg.StrOpt('key', secret=True))
    conf(args=[], default_config_files=[])
    conf.set_override('url', 'postgresql://u:TopSecret@h/db', group='g')
    conf.set_override('plain', 'visible', group='g')
    conf.set_override('key', 'k3y!')
    assert sorted(redact.configured_secrets(conf)) == ['TopSecret', 'k3y!']
    conf.set_override('url', 'rabbit://', group='g')  # no password
    assert redact.configured_secrets(conf) == ['k3y!']
    # The answer is kept until a value or an option changes.
    conf.register_opt(cfg.StrOpt('token', secret=True, default='T0ken'),
                      group='late')
    assert redact.configured_secrets(conf) == ['T0ken', 'k3y!']
    conf.clear_override('key')
    assert redact.configured_secrets(conf) == ['T0ken']


def test_a_torn_journal_line_is_ended_before_the_next_record(
        tmp_path: pathlib.Path) -> None:
    journal = Journal(str(tmp_path / 'j.jsonl'))
    journal.append({'n': 1})
    with open(journal.path, 'a') as stream:
        stream.write('{"n": 2, "tor')  # a crash mid-append
    journal.append({'n': 3})
    assert journal.records() == [{'n': 1}, {'n': 3}]
    assert len(journal.lines()) == 3


# -- samples -----------------------------------------------------------------

def test_samples_are_fetched_into_an_empty_cache_from_this_python(
        tmp_path: pathlib.Path) -> None:
    """On every Python novahooks supports (3.8 too, though Nova 34 needs
    3.11): no pip, which would prepare Nova's metadata and refuse."""
    directory = samples.fetch(cache=tmp_path / 'cache')
    assert directory == (tmp_path / 'cache' / 'nova-34.0.0'
                         / 'notification_samples')
    create = samples.load(directory, 'instance-create-end')
    assert create['event_type'] == 'instance.create.end'
    assert samples.fetch(cache=tmp_path / 'cache') == directory  # cached
    assert sys.version_info >= (3, 8)


@pytest.fixture
def index(tmp_path: pathlib.Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[pathlib.Path]:
    """A PEP 503 package index served over HTTP on 127.0.0.1 from a
    folder (``simple/nova/index.html`` and the archives beside it), by
    Python's own server in another process; ``$NOVAHOOKS_INDEX_URL``
    points at it."""
    root = tmp_path / 'www'
    (root / 'simple' / 'nova').mkdir(parents=True)
    port = free_tcp_port()
    server = subprocess.Popen(
        [sys.executable, '-m', 'http.server', '--bind', '127.0.0.1',
         '--directory', str(root), str(port)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(('127.0.0.1', port), 1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, 'no HTTP server'
                time.sleep(0.05)
        monkeypatch.setenv('NOVAHOOKS_INDEX_URL',
                           'http://127.0.0.1:%d/simple' % port)
        yield root
    finally:
        server.kill()
        server.wait()


def publish(root: pathlib.Path, members: Dict[str, bytes],
            sha: Optional[str] = None) -> None:
    """nova-99.0.0.tar.gz holding ``members``, listed with ``sha`` (its
    real digest by default)."""
    archive = root / 'nova-99.0.0.tar.gz'
    with tarfile.open(str(archive), 'w:gz') as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    digest = sha or hashlib.sha256(archive.read_bytes()).hexdigest()
    (root / 'simple' / 'nova' / 'index.html').write_text(
        '<html><body><a href="../../nova-99.0.0.tar.gz#sha256=%s">'
        'nova-99.0.0.tar.gz</a></body></html>' % digest)


PREFIX = 'nova-99.0.0/doc/notification_samples/'


def test_samples_come_from_a_pep_503_index_too(
        index: pathlib.Path, tmp_path: pathlib.Path) -> None:
    publish(index, {PREFIX + 'common_payloads/x.json': b'{"a": 1}',
                    PREFIX + 'x.json': b'{"$ref": "common_payloads/x.json"}',
                    'nova-99.0.0/setup.py': b''})
    directory = samples.fetch('99.0.0', cache=tmp_path / 'cache')
    assert samples.load(directory, 'x') == {'a': 1}
    assert not (directory / 'setup.py').exists()


def test_a_sample_archive_with_a_path_leaving_its_folder_is_refused(
        index: pathlib.Path, tmp_path: pathlib.Path) -> None:
    publish(index, {PREFIX + 'common_payloads/x.json': b'{}',
                    PREFIX + '../../../../../evil.json': b'{}'})
    with pytest.raises(ValueError, match='unsafe member'):
        samples.fetch('99.0.0', cache=tmp_path / 'cache')
    assert not list(tmp_path.rglob('evil.json'))


def test_a_sample_archive_with_the_wrong_digest_is_refused(
        index: pathlib.Path, tmp_path: pathlib.Path) -> None:
    publish(index, {PREFIX + 'common_payloads/x.json': b'{}'}, sha='0' * 64)
    with pytest.raises(ValueError, match='sha256'):
        samples.fetch('99.0.0', cache=tmp_path / 'cache')
    assert not (tmp_path / 'cache' / 'nova-99.0.0' /
                'notification_samples').exists()
