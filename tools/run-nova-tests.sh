#!/usr/bin/env bash
# The real-Nova tier: Nova 21.2.4 (Ussuri, the last release with hooks) on
# Python 3.8 under Ussuri's upper-constraints, running its own functional
# harness (API, conductor, scheduler, compute in one process; fake virt
# driver; Neutron, Placement and Cinder fixtures) with our installed
# nova.hooks entry points. The venv (.venvs/nova21) is rebuilt only when its
# inputs change. Runs with Nova's own runner (testtools): pytest cannot drive
# Nova's testtools-based cases cleanly; through tools/testtools_run.py, where
# an expected failure is shown and fails the run (testtools alone counts it
# as a success, unnamed) and the last line counts the passes.
#
# Usage: tools/run-nova-tests.sh [test id ...]   (default: nova_tier.functional)
#        tools/run-nova-tests.sh --build          (the venv only)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV="$ROOT/.venvs/nova21"
UC="$ROOT/tools/constraints/ussuri-upper-constraints.txt"
NOVA=21.2.4

PY38=${NOVAHOOKS_PY38:-}
if [ -z "$PY38" ]; then
    if command -v pyenv >/dev/null 2>&1 && pyenv prefix 3.8.18 >/dev/null 2>&1; then
        PY38="$(pyenv prefix 3.8.18)/bin/python"
    else
        PY38=$(command -v python3.8 || true)
    fi
fi
[ -x "$PY38" ] || { echo "Python 3.8 not found (set NOVAHOOKS_PY38)" >&2; exit 1; }
# --build: only build (or check) the venv (run-tests.sh builds the tiers'
# venvs while the pytest suites run).
BUILD_ONLY=no
if [ "${1:-}" = --build ]; then
    BUILD_ONLY=yes
    shift
fi

stamp=$(cat "$0" "$UC" setup.cfg requirements.txt nova_tier/recorder/setup.py | sha256sum | cut -c1-16)
if [ ! -f "$VENV/.stamp" ] || [ "$(cat "$VENV/.stamp")" != "$stamp" ]; then
    echo "=== nova21: building $VENV (Nova $NOVA, Python 3.8, Ussuri constraints)"
    rm -rf "$VENV"
    "$PY38" -m venv "$VENV"
    # Nova itself and libraries our CI does not need (their builds fail or
    # pull services) are left out of the constraints; oslo.vmware is not
    # needed by the fake driver and its suds-jurko dependency fails to build.
    grep -v -iE '^(nova|hacking|bandit|psycopg2|python-barbicanclient|python-ironicclient)[=;]' \
        "$UC" > "$VENV/constraints.txt"
    "$VENV/bin/pip" install -q -c "$VENV/constraints.txt" "nova==$NOVA" \
        ddt fixtures mock requests-mock oslotest stestr osprofiler \
        testresources testscenarios testtools wsgi-intercept openstack-placement
    # Nova's API fixture loads etc/nova/api-paste.ini beside the package.
    tmp=$(mktemp -d)
    "$VENV/bin/pip" download -q --no-deps --no-binary :all: -d "$tmp" "nova==$NOVA"
    tar xzf "$tmp/nova-$NOVA.tar.gz" -C "$tmp" "nova-$NOVA/etc"
    cp -r "$tmp/nova-$NOVA/etc" "$VENV/lib/python3.8/site-packages/"
    rm -rf "$tmp"
    "$VENV/bin/pip" install -q -c "$VENV/constraints.txt" -e . -e nova_tier/recorder
    echo "$stamp" > "$VENV/.stamp"
fi
if [ "$BUILD_ONLY" = yes ]; then
    echo "=== nova21: $VENV ready"
    exit 0
fi

echo "=== nova21: $("$VENV/bin/pip" freeze | grep -iE '^(nova|stevedore|oslo\.config)==' | tr '\n' ' ')"

# A real BIND for the DNS plugin's scenarios, on a free loopback port.
BIND_DIR=$(mktemp -d)
PORT=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PYTHON="$VENV/bin/python" bash tools/bind-server.sh "$BIND_DIR" "$PORT" > "$BIND_DIR/console.log" 2>&1 &
trap 'bash tools/bind-server.sh --stop "$BIND_DIR" >/dev/null 2>&1 || true; rm -rf "$BIND_DIR"' EXIT
for _ in $(seq 1 300); do
    grep -q '^ready' "$BIND_DIR/console.log" 2>/dev/null && break
    sleep 0.1
done
grep -q '^ready' "$BIND_DIR/console.log" || { cat "$BIND_DIR/console.log" >&2; echo "BIND did not start" >&2; exit 1; }
export NOVAHOOKS_TEST_BIND="$BIND_DIR"
BENCH=no
if [ $# -eq 0 ]; then
    set -- discover -t "$ROOT" -s "$ROOT/nova_tier/functional"
    BENCH=yes
fi
# Nova's harness logs a great deal; keep it out of the output unless a
# test fails (testtools prints the captured log of a failing test).
"$VENV/bin/python" tools/testtools_run.py "$@"

# The hook path's cost inside Nova's own runner, against its floor in the
# same run (a benchmark, not a timed test): the quick mode fails only when
# a figure is back near its cost before the hook-path work.
if [ "$BENCH" = yes ]; then
    echo "=== nova21: tools/bench/bench_nova_hooks.py --quick --check"
    "$VENV/bin/python" tools/bench/bench_nova_hooks.py --quick --check 2>&1 \
        | grep -vE 'is at schema|SyntaxWarning|word_sep'
fi
