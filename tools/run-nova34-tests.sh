#!/usr/bin/env bash
# The real Nova 34 tier: Nova 34.0.0 (no hooks: versioned notifications
# only) on Python 3.12 under its upper-constraints, running its own
# functional harness (API, conductor, scheduler, compute in one process;
# fake virt driver; Neutron, Placement and Cinder fixtures). Every
# versioned notification Nova sends is also published on a private
# RabbitMQ (tools/rabbitmq-server.sh), where the installed `novahooks
# listen` consumes it in its own process and drives DNS on a private BIND
# (tools/bind-server.sh), storage and netinfo on SQLite, or on a private
# PostgreSQL (tools/pg-server.sh) shared by several listeners
# (nova_tier/nova34/).
#
# The venv (.venvs/nova34) is rebuilt only when its inputs change (this
# script, the constraints under nova_tier/nova34/, setup.cfg,
# requirements.txt, the interpreter's version). Runs with Nova's own runner
# (testtools), as the Nova 21 tier does, through tools/testtools_run.py: an
# expected failure is shown and fails the run (testtools alone counts it
# as a success, unnamed), and the last line counts the passes.
#
# BIND, RabbitMQ and PostgreSQL come from Debian (installed with apt-get
# when missing, as root); Nova and its libraries from PyPI (and etc/ from Nova's sdist).
#
# Usage: tools/run-nova34-tests.sh [test id ...]   (default: nova_tier.nova34)
#        tools/run-nova34-tests.sh --build          (the venv only)
# Env:   NOVAHOOKS_PY312 (the interpreter; else pyenv's 3.12.1 or newest
#        3.12, else python3.12 on PATH); NOVAHOOKS_NOVA34_NOTIFICATIONS (a
#        directory: each test's notifications are saved there as JSON lines).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCRIPT="$ROOT/tools/$(basename "${BASH_SOURCE[0]}")"
cd "$ROOT"
VENV="$ROOT/.venvs/nova34"
HERE="$ROOT/nova_tier/nova34"
# openstack/requirements' upper-constraints for Nova 34, and a freeze of a
# venv built from it that is known to work (copies of shared/constraints:
# CI sees only the repository).
UC="$HERE/upper-constraints.txt"
KNOWN_GOOD="$HERE/known-good.txt"
NOVA=34.0.0
PLACEMENT=16.0.0

PY312=${NOVAHOOKS_PY312:-}
if [ -z "$PY312" ] && command -v pyenv >/dev/null 2>&1; then
    for version in 3.12.1 "$(pyenv versions --bare 2>/dev/null | grep -E '^3\.12\.[0-9]+$' | tail -n 1)"; do
        if [ -n "$version" ] && pyenv prefix "$version" >/dev/null 2>&1; then
            PY312="$(pyenv prefix "$version")/bin/python"
            break
        fi
    done
fi
[ -n "$PY312" ] || PY312=$(command -v python3.12 || true)
[ -x "$PY312" ] || { echo "Python 3.12 not found (set NOVAHOOKS_PY312)" >&2; exit 1; }
# --build: only build (or check) the venv, no servers, no tests (run-tests.sh
# builds the tiers' venvs while the pytest suites run).
BUILD_ONLY=no
if [ "${1:-}" = --build ]; then
    BUILD_ONLY=yes
    shift
fi

# BIND, RabbitMQ and PostgreSQL from Debian, installed here at once when
# missing (tools/bind-server.sh, tools/rabbitmq-server.sh and
# tools/pg-server.sh would each run apt-get, at the same time: dpkg's lock
# lets one of them fail).
export PATH="$PATH:/usr/sbin:/sbin"
if ! command -v named >/dev/null 2>&1 || ! command -v tsig-keygen >/dev/null 2>&1 \
        || [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ] \
        || ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
    echo "=== nova34: installing BIND, RabbitMQ and PostgreSQL (apt-get)"
    [ "$(id -u)" = 0 ] || { echo "need root (or named, rabbitmq-server and postgresql installed)" >&2; exit 1; }
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends bind9 bind9-utils rabbitmq-server \
        postgresql >/dev/null
fi

# A real BIND (DNS plugin, rfc2136), a real RabbitMQ (Nova's
# notifications to `novahooks listen`) and a real PostgreSQL (the plugins'
# and the order guard's shared database), each in a private directory on
# a free loopback port, stopped on exit. Their directories (server.json)
# go to the tests in $NOVAHOOKS_TEST_BIND, $NOVAHOOKS_TEST_RABBIT and
# $NOVAHOOKS_TEST_PG.
SERVERS=$(mktemp -d)
# (As root PostgreSQL runs as the postgres user: it must get through.)
chmod 0711 "$SERVERS"
BIND_DIR="$SERVERS/bind"
RABBIT_DIR="$SERVERS/rabbit"
PG_DIR="$SERVERS/pg"
mkdir -p "$BIND_DIR" "$RABBIT_DIR" "$PG_DIR"
stop_servers() {
    bash tools/rabbitmq-server.sh --stop "$RABBIT_DIR" >/dev/null 2>&1 &
    bash tools/bind-server.sh --stop "$BIND_DIR" >/dev/null 2>&1 &
    bash tools/pg-server.sh --stop "$PG_DIR" >/dev/null 2>&1 &
    wait || true
    rm -rf "$SERVERS"
}
trap stop_servers EXIT

free_ports() {  # a free TCP+UDP port for BIND; a free TCP port (and its
                # Erlang distribution port, +20000) for RabbitMQ; a free
                # TCP port for PostgreSQL
    "$PY312" - <<'EOF'
import socket

def free(port=0, udp=False):
    kinds = [socket.SOCK_STREAM] + ([socket.SOCK_DGRAM] if udp else [])
    sockets = []
    try:
        for kind in kinds:
            sock = socket.socket(socket.AF_INET, kind)
            sockets.append(sock)
            sock.bind(('127.0.0.1', port))
            port = sock.getsockname()[1]
        return port
    except OSError:
        return None
    finally:
        for sock in sockets:
            sock.close()

bind = next(p for p in iter(lambda: free(udp=True), -1)
            if p and p not in (53, 5353, 5399))
rabbit = next(p for p in iter(free, -1)
              if p and p != 5699 and p + 20000 <= 65535 and free(p + 20000))
pg = next(p for p in iter(free, -1)
          if p and p not in (5432, 5499, bind, rabbit, rabbit + 20000))
print(bind, rabbit, pg)
EOF
}
if [ "$BUILD_ONLY" = no ]; then
    ports=$(free_ports)
    read -r BIND_PORT RABBIT_PORT PG_PORT <<<"$ports"
    # (Started now, they boot while the venv is checked or built.)
    PYTHON="$PY312" bash tools/bind-server.sh "$BIND_DIR" "$BIND_PORT" \
        > "$SERVERS/bind.log" 2>&1 &
    BIND_PID=$!
    bash tools/rabbitmq-server.sh "$RABBIT_DIR" "$RABBIT_PORT" \
        > "$SERVERS/rabbit.log" 2>&1 &
    RABBIT_PID=$!
    bash tools/pg-server.sh "$PG_DIR" "$PG_PORT" > "$SERVERS/pg.log" 2>&1 &
    PG_PID=$!
fi
wait_ready() {  # wait_ready NAME PID LOG SECONDS
    for _ in $(seq 1 $(($4 * 10))); do
        grep -q '^ready' "$3" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    cat "$3" >&2
    echo "$1 did not start" >&2
    exit 1
}

stamp=$( (cat "$SCRIPT" "$UC" "$KNOWN_GOOD" setup.cfg requirements.txt
          "$PY312" -c 'import sys; print(sys.version)') | sha256sum | cut -c1-16)
# pip, quietly: what it says on stderr but the notes about configured
# package locations that do not exist on this machine.
pip() {
    local status=0
    "$VENV/bin/pip" "$@" 2> "$VENV/pip.err" || status=$?
    grep -v "^WARNING: Location '.*' is ignored" "$VENV/pip.err" >&2 || true
    rm -f "$VENV/pip.err"
    return "$status"
}

if [ ! -f "$VENV/.stamp" ] || [ "$(cat "$VENV/.stamp")" != "$stamp" ]; then
    echo "=== nova34: building $VENV (Nova $NOVA, Python 3.12, Nova 34 constraints)"
    rm -rf "$VENV"
    "$PY312" -m venv "$VENV"
    # The constraints name releases older than Nova 34 accepts for
    # keystoneauth1 (5.15.0; Nova wants >=5.16.0) and oslo.versionedobjects
    # (3.11.0; >=3.12.0): those lines are replaced by the known-good
    # freeze's pins. Nova's own line is dropped (we name the release), and
    # so are hacking and bandit (linters, not needed here).
    grep -v -iE '^(nova|keystoneauth1|oslo\.versionedobjects|hacking|bandit)[=;]' \
        "$UC" > "$VENV/constraints.txt"
    grep -iE '^(keystoneauth1|oslo\.versionedobjects)==' "$KNOWN_GOOD" \
        >> "$VENV/constraints.txt"
    [ "$(grep -ciE '^(keystoneauth1|oslo\.versionedobjects)==' "$VENV/constraints.txt")" = 2 ] \
        || { echo "known-good pins missing from $KNOWN_GOOD" >&2; exit 1; }
    # Nova, Placement (its fixture runs the real Placement in-process) and
    # Nova's functional test requirements.
    pip install -q -c "$VENV/constraints.txt" \
        "nova==$NOVA" "openstack-placement==$PLACEMENT" \
        ddt fixtures oslotest stestr testtools testscenarios testresources \
        wsgi-intercept requests-mock osprofiler python-barbicanclient \
        psycopg2-binary PyMySQL
    # The wheel ships nova/tests but not etc/: Nova's API fixture loads
    # etc/nova/api-paste.ini beside the package.
    tmp="$SERVERS/sdist"
    pip download -q --no-deps --no-binary :all: -d "$tmp" "nova==$NOVA"
    tar xzf "$tmp/nova-$NOVA.tar.gz" -C "$tmp" "nova-$NOVA/etc"
    site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    cp -r "$tmp/nova-$NOVA/etc" "$site/"
    rm -rf "$tmp"
    pip install -q -c "$VENV/constraints.txt" -e '.[dns,storage,netinfo,listen]'
    pip check >/dev/null || { pip check >&2; exit 1; }
    echo "$stamp" > "$VENV/.stamp"
fi
if [ "$BUILD_ONLY" = yes ]; then
    echo "=== nova34: $VENV ready"
    exit 0
fi

echo "=== nova34: $("$VENV/bin/pip" freeze | grep -iE '^(nova|oslo\.messaging|kombu|stevedore|oslo\.config)==' | tr '\n' ' ')"

wait_ready BIND "$BIND_PID" "$SERVERS/bind.log" 30
wait_ready RabbitMQ "$RABBIT_PID" "$SERVERS/rabbit.log" 120
wait_ready PostgreSQL "$PG_PID" "$SERVERS/pg.log" 60
export NOVAHOOKS_TEST_BIND="$BIND_DIR"
export NOVAHOOKS_TEST_RABBIT="$RABBIT_DIR"
export NOVAHOOKS_TEST_PG="$PG_DIR"

if [ $# -eq 0 ]; then
    set -- discover -t "$ROOT" -s "$ROOT/nova_tier/nova34"
fi
# Nova's harness logs a great deal; keep it out of the output unless a
# test fails (testtools prints the captured log of a failing test; what
# the process wrote to stderr, eventlet's deprecation warnings and the log
# lines of Nova's thread pools shutting down after the tests, is shown only
# then).
status=0
"$VENV/bin/python" tools/testtools_run.py "$@" 2> "$SERVERS/stderr.log" || status=$?
if [ "$status" != 0 ]; then
    cat "$SERVERS/stderr.log" >&2
    echo "nova34 tier failed (exit $status)" >&2
fi
exit "$status"
