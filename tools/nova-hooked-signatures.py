#!/usr/bin/env python3
"""Record, or re-verify, the hooked functions of Nova releases read from
their source: for releases not on the package index (12.0.6, 13.1.4,
14.1.0), whose signatures the objects tier cannot read from a package.

For each release: every ``@hooks.add_hook`` function (module, qualname,
parameters) and every call of one in Nova's own code (module, line,
arguments as written), found with the same ``ast`` code as the objects
tier (``nova_tier/objects/nova_hooked.py``), with the provenance: the tag,
its commit, the ``nova/`` tree and the git blob of each file they were
found in. ``tests/test_recorded_signatures.py`` checks them against
``novahooks_core.hooks.binding``.

    # record (the releases given, or those already recorded)
    tools/nova-hooked-signatures.py --git-dir ~/src/nova 12.0.6 13.1.4 14.1.0
    # re-verify every recorded release against a clone with its tags
    tools/nova-hooked-signatures.py --git-dir ~/src/nova --verify
    # or one release against a directory holding its nova/ (a checkout,
    # an unpacked tarball from tarballs.opendev.org): blobs, functions
    # and calls, not the commit
    tools/nova-hooked-signatures.py --source nova-12.0.6 --verify 12.0.6

A clone: ``git clone https://opendev.org/openstack/nova`` (tags
included). Standard library only, any Python 3.8 or later; exits 1 when
a verification finds a difference (printed), 2 on a usage error.
"""

import argparse
import difflib
import json
import pathlib
import subprocess
import sys
from typing import Any, Dict, Iterator, List, Tuple

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'nova_tier' / 'objects'))

import nova_hooked  # noqa: E402

RECORDED = ROOT / 'nova_tier' / 'objects' / 'recorded_signatures.json'
DEFAULT_RELEASES = ('12.0.6', '13.1.4', '14.1.0')
COMMENT = [
    'Hooked functions of Nova releases not on the package index, read',
    'from their git tags by tools/nova-hooked-signatures.py (do not edit',
    'by hand).',
    'Re-verify with a clone of https://opendev.org/openstack/nova:',
    '  tools/nova-hooked-signatures.py --git-dir <clone> --verify',
    'Checked against binding by tests/test_recorded_signatures.py.',
]


def git(git_dir: pathlib.Path, *args: str) -> str:
    proc = subprocess.run(['git', '-C', str(git_dir)] + list(args),
                          capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit('git %s: %s' % (' '.join(args),
                                         proc.stderr.strip()))
    return proc.stdout.strip()


def git_modules(git_dir: pathlib.Path, commit: str
                ) -> Iterator[Tuple[str, bytes]]:
    """``(path, bytes)`` of every ``nova/**.py`` of a commit."""
    listing = git(git_dir, 'ls-tree', '-r', '-z', '--full-tree', commit,
                  'nova')
    wanted: List[Tuple[str, str]] = []
    for entry in listing.split('\0'):
        if not entry:
            continue
        meta, path = entry.split('\t', 1)
        _mode, kind, sha = meta.split()
        if kind == 'blob' and path.endswith('.py'):
            wanted.append((path, sha))
    out = subprocess.run(
        ['git', '-C', str(git_dir), 'cat-file', '--batch'],
        input=''.join(sha + '\n' for _, sha in wanted).encode(),
        check=True, capture_output=True).stdout
    offset = 0
    for path, sha in wanted:
        end = out.index(b'\n', offset)
        header = out[offset:end].split()
        if header[:2] != [sha.encode(), b'blob']:
            raise RuntimeError('git cat-file: %r for %s' % (header, path))
        offset = end + 1 + int(header[2])
        yield path, out[end + 1:offset]
        offset += 1  # the newline after each object


def from_git(git_dir: pathlib.Path, release: str) -> Dict[str, Any]:
    tag = release
    commit = git(git_dir, 'rev-parse', '--verify', tag + '^{commit}')
    source = {
        'tag': tag,
        'tag_object': git(git_dir, 'rev-parse', '--verify', tag),
        'commit': commit,
        'nova_tree': git(git_dir, 'rev-parse', '--verify',
                         commit + ':nova'),
    }
    entry = nova_hooked.extract(git_modules(git_dir, commit)).as_dict()
    return dict(source=source, **entry)


def from_directory(directory: pathlib.Path) -> Dict[str, Any]:
    if not (directory / 'nova' / 'hooks.py').is_file():
        raise SystemExit('%s holds no nova/hooks.py' % directory)
    entry = nova_hooked.extract(nova_hooked.directory_modules(directory))
    return dict(source={'directory': str(directory)}, **entry.as_dict())


def check_complete(release: str, entry: Dict[str, Any]) -> None:
    """One function per hook point (the four of nova/hooks.py's users)."""
    hooked = entry['hooked']
    if sorted(hooked) != ['build_instance', 'create_instance',
                          'delete_instance', 'instance_network_info'] or \
            any(len(functions) != 1 for functions in hooked.values()):
        raise SystemExit('%s: unexpected hooked functions: %s'
                         % (release, json.dumps(hooked, indent=1)))


def load(path: pathlib.Path) -> Dict[str, Any]:
    if not path.exists():
        return {'comment': COMMENT, 'releases': {}}
    data: Dict[str, Any] = json.loads(path.read_text())
    return data


def dump(data: Dict[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=False) + '\n'


def differences(release: str, recorded: Dict[str, Any],
                found: Dict[str, Any]) -> List[str]:
    keys = ['files', 'hooked', 'calls']
    if 'directory' not in found['source']:
        keys.insert(0, 'source')
    lines: List[str] = []
    for key in keys:
        old = json.dumps(recorded.get(key), indent=1, sort_keys=True)
        new = json.dumps(found.get(key), indent=1, sort_keys=True)
        if old != new:
            lines.extend(difflib.unified_diff(
                old.splitlines(), new.splitlines(),
                '%s recorded %s' % (release, key),
                '%s re-extracted %s' % (release, key), lineterm=''))
    return lines


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument('--git-dir', type=pathlib.Path,
                       help='a nova git repository (clone or bare) with '
                            'the releases\' tags')
    where.add_argument('--source', type=pathlib.Path,
                       help='a directory holding one release\'s nova/')
    parser.add_argument('--verify', action='store_true',
                        help='re-extract and compare with the record '
                             '(default: write the record)')
    parser.add_argument('--record', type=pathlib.Path, default=RECORDED,
                        help='the JSON record (default %(default)s)')
    parser.add_argument('releases', nargs='*', metavar='RELEASE',
                        help='tags (default: every recorded release, or '
                             + ' '.join(DEFAULT_RELEASES) + ')')
    args = parser.parse_args(argv)
    data = load(args.record)
    releases = args.releases or list(data['releases']) or list(
        DEFAULT_RELEASES)
    if args.source and len(releases) != 1:
        parser.error('--source reads one release: name it')

    failed = False
    for release in releases:
        found = (from_directory(args.source) if args.source
                 else from_git(args.git_dir, release))
        check_complete(release, found)
        if not args.verify:
            data['releases'][release] = found
            print('%s: recorded from %s' % (release, found['source']))
            continue
        if release not in data['releases']:
            print('%s: not recorded in %s' % (release, args.record))
            failed = True
            continue
        diff = differences(release, data['releases'][release], found)
        if diff:
            failed = True
            print('\n'.join(diff))
            print('%s: DIFFERS from the record' % release)
        else:
            print('%s: matches the record (%s)' % (
                release, ', '.join('%s %s' % item for item in
                                   found['source'].items())))
    if not args.verify:
        data['comment'] = COMMENT
        data['releases'] = dict(sorted(
            data['releases'].items(),
            key=lambda item: [int(part) for part in item[0].split('.')]))
        args.record.write_text(dump(data))
        print('wrote %s' % args.record)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
