"""The sample fetcher unpacks only regular files inside the sdist's
samples folder: a member whose path or link would leave it is refused."""

import io
import pathlib
import tarfile
from typing import List, Tuple

import pytest

from novahooks_core.testing import samples

RELEASE = '34.0.0'
PREFIX = 'nova-%s/doc/notification_samples/' % RELEASE


def archive(path: pathlib.Path, members: List[Tuple[str, bytes, bytes]]
            ) -> pathlib.Path:
    """A tarball of (name, type, content) members."""
    target = path / 'nova.tar.gz'
    with tarfile.open(str(target), 'w:gz') as tar:
        for name, kind, content in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.SYMTYPE:
                info.linkname = content.decode()
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return target


def members(path: pathlib.Path) -> List[str]:
    with tarfile.open(str(path)) as tar:
        return [relative for _, relative
                in samples.sample_members(tar, RELEASE)]


def test_sample_files_are_listed_below_the_samples_folder(
        tmp_path: pathlib.Path) -> None:
    path = archive(tmp_path, [
        (PREFIX + 'common_payloads/a.json', tarfile.REGTYPE, b'{}'),
        (PREFIX + 'b.json', tarfile.REGTYPE, b'{}'),
        ('nova-%s/setup.py' % RELEASE, tarfile.REGTYPE, b''),
        ('nova-%s/setup.lnk' % RELEASE, tarfile.SYMTYPE, b'/etc/passwd')])
    assert sorted(members(path)) == ['b.json', 'common_payloads/a.json']


@pytest.mark.parametrize('name,kind,content', [
    (PREFIX + '../../../../etc/evil', tarfile.REGTYPE, b'x'),
    (PREFIX + 'a/../../../evil', tarfile.REGTYPE, b'x'),
    (PREFIX + 'link.json', tarfile.SYMTYPE, b'/etc/passwd'),
    (PREFIX + 'hard.json', tarfile.LNKTYPE, b''),
    (PREFIX + 'dev', tarfile.CHRTYPE, b''),
    (PREFIX + 'a\\..\\..\\evil', tarfile.REGTYPE, b'x'),
])
def test_a_member_leaving_the_samples_folder_is_refused(
        tmp_path: pathlib.Path, name: str, kind: bytes,
        content: bytes) -> None:
    path = archive(tmp_path, [
        (PREFIX + 'common_payloads/a.json', tarfile.REGTYPE, b'{}'),
        (name, kind, content)])
    with pytest.raises(ValueError, match='unsafe member'):
        members(path)
