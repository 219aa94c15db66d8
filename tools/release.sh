#!/usr/bin/env bash
# Build the release artifacts (pbr sdist and wheel) of a tagged checkout.
#
# Usage: tools/release.sh [--allow-untagged] [OUTDIR]
#
# Builds the git checkout that contains the current directory. pbr takes the
# version from git, so HEAD must carry a tag (git describe --exact-match
# --tags HEAD); --allow-untagged builds anyway (pbr then makes a dev version).
# OUTDIR defaults to dist/ at the top of the checkout. The interpreter is
# $PYTHON (default python3). Progress goes to stderr; stdout carries only the
# absolute paths of the artifacts, one a line.
#
# With `python -m build` available: sdist, then the wheel built from that
# sdist, each in an isolated environment. Otherwise: `setup.py sdist` (needs
# setuptools, and pbr or network access for setup_requires), then
# `pip wheel --use-pep517` from that sdist (isolated environment from PyPI).
# Either way the wheel is built from the sdist, so a file missing from the
# sdist also breaks the wheel here, not at a user's install.
set -euo pipefail

PYTHON=${PYTHON:-python3}

usage() {
    echo 'Usage: tools/release.sh [--allow-untagged] [OUTDIR]' >&2
}

die() {
    printf 'release.sh: %s\n' "$*" >&2
    exit 1
}

allow_untagged=0
outdir=
while [ $# -gt 0 ]; do
    case $1 in
        --allow-untagged) allow_untagged=1 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        -*) usage; die "unknown option: $1" ;;
        *)
            [ -z "$outdir" ] || die "only one OUTDIR may be given"
            outdir=$1 ;;
    esac
    shift
done
if [ $# -gt 0 ]; then
    if [ -n "$outdir" ] || [ $# -ne 1 ]; then
        die "only one OUTDIR may be given"
    fi
    outdir=$1
fi

command -v "$PYTHON" >/dev/null 2>&1 || die "interpreter not found: $PYTHON"
root=$(git rev-parse --show-toplevel 2>/dev/null) \
    || die "not inside a git checkout: $PWD"
if [ ! -f "$root/setup.cfg" ] || [ ! -f "$root/setup.py" ]; then
    die "$root has no setup.cfg/setup.py"
fi

outdir=${outdir:-$root/dist}
mkdir -p -- "$outdir"
outdir=$(cd -- "$outdir" && pwd)

if tag=$(git -C "$root" describe --exact-match --tags HEAD 2>/dev/null); then
    printf 'release.sh: building tag %s\n' "$tag" >&2
elif [ "$allow_untagged" = 1 ]; then
    printf 'release.sh: HEAD is not tagged; building a dev version ' >&2
    printf '(--allow-untagged)\n' >&2
else
    die "HEAD ($(git -C "$root" rev-parse --short HEAD)) is not at a tag." \
        "Check out a release tag, or tag HEAD (git tag -s X.Y.Z), or pass" \
        "--allow-untagged for a test build."
fi
if [ -n "$(git -C "$root" status --porcelain --untracked-files=no)" ]; then
    printf 'release.sh: warning: tracked files have uncommitted changes; ' >&2
    printf 'the artifacts contain them\n' >&2
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/novahooks-release.XXXXXX")
trap 'rm -rf -- "$stage"' EXIT

cd -- "$root"
if "$PYTHON" -m build --version >/dev/null 2>&1; then
    printf 'release.sh: python -m build (%s)\n' "$PYTHON" >&2
    "$PYTHON" -m build --outdir "$stage" "$root" >&2
else
    printf 'release.sh: setup.py sdist + pip wheel (%s; no build module)\n' \
        "$PYTHON" >&2
    "$PYTHON" setup.py -q sdist --dist-dir "$stage" >&2
    sdists=("$stage"/*.tar.gz)
    if [ ${#sdists[@]} -ne 1 ] || [ ! -f "${sdists[0]}" ]; then
        die "expected one sdist in $stage"
    fi
    "$PYTHON" -m pip wheel --disable-pip-version-check --no-deps \
        --use-pep517 --wheel-dir "$stage" "${sdists[0]}" >&2
fi

shopt -s nullglob
artifacts=("$stage"/*.tar.gz "$stage"/*.whl)
shopt -u nullglob
[ ${#artifacts[@]} -eq 2 ] \
    || die "expected one sdist and one wheel, got: ${artifacts[*]:-nothing}"
for artifact in "${artifacts[@]}"; do
    mv -f -- "$artifact" "$outdir/"
    printf '%s\n' "$outdir/$(basename -- "$artifact")"
done
