#!/usr/bin/env bash
# Build the virtualenv of the real-Neutron test tooling (tools/neutron_server.py):
#
#   .venvs/neutron/        Python 3.12 with neutron==28.0.2 (2026.1), installed
#                          under tools/constraints/neutron-2026.1-upper-constraints.txt
#   .venvs/neutron/.stamp  hash of this script and the constraints file, and the
#                          interpreter version; written only after a build
#                          passed its import check
#
# Reuses the venv while .stamp is current; otherwise rebuilds it from nothing.
# Any failure fails the script (and leaves no stamp).
#
# Usage: tools/neutron-env.sh            (prints the venv's path on stdout)
# Env:   NEUTRON_ENV (directory; default .venvs/neutron),
#        NOVAHOOKS_PY312 (interpreter; default pyenv's or PATH's 3.12)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${NEUTRON_ENV:-$ROOT/.venvs/neutron}
CONSTRAINTS="$ROOT/tools/constraints/neutron-2026.1-upper-constraints.txt"
NEUTRON_VERSION=28.0.2

log() { printf '=== neutron: %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

interpreter() {
    local candidate
    if [ -n "${NOVAHOOKS_PY312:-}" ]; then echo "$NOVAHOOKS_PY312"; return; fi
    if command -v pyenv >/dev/null 2>&1; then
        candidate=$(pyenv prefix "$(pyenv versions --bare | grep -E '^3\.12(\.[0-9]+)?$' | tail -n 1)" 2>/dev/null)/bin/python || true
        if [ -x "$candidate" ]; then echo "$candidate"; return; fi
    fi
    if command -v python3.12 >/dev/null 2>&1; then
        command -v python3.12; return
    fi
    die "no Python 3.12 found (set NOVAHOOKS_PY312)"
}

[ -f "$CONSTRAINTS" ] || die "missing $CONSTRAINTS"
PYTHON=$(interpreter)
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 12), sys.version' \
    || die "$PYTHON is not Python 3.12"

STAMP="$(cat "${BASH_SOURCE[0]}" "$CONSTRAINTS" | sha256sum \
    | cut -c1-16)-$("$PYTHON" -c 'import sys; print(sys.version.split()[0])')"

mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9  # one build at a time; a second caller waits, then reuses it

if [ -f "$VENV/.stamp" ] && [ "$(cat "$VENV/.stamp")" = "$STAMP" ] \
        && [ -x "$VENV/bin/python" ]; then
    log "reusing $VENV ($STAMP)"
    echo "$VENV"
    exit 0
fi

log "building $VENV with $PYTHON (neutron==$NEUTRON_VERSION, stamp $STAMP)"
start=$(date +%s)
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV" || die "venv creation"
BUILD_LOG="$VENV/build.log"
if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        -c "$CONSTRAINTS" "neutron==$NEUTRON_VERSION" >"$BUILD_LOG" 2>&1; then
    tail -n 40 "$BUILD_LOG" >&2
    die "pip install neutron==$NEUTRON_VERSION (log: $BUILD_LOG)"
fi
"$VENV/bin/python" - <<'PY' || die "import check"
import neutron.db.migration.models.head  # noqa: F401
import neutron.plugins.ml2.plugin  # noqa: F401
import neutron.server.api  # noqa: F401
from importlib.metadata import version
assert version("neutron") == "28.0.2", version("neutron")
PY
echo "$STAMP" >"$VENV/.stamp"
log "built $VENV in $(( $(date +%s) - start )) s"
echo "$VENV"
