#!/usr/bin/env bash
# Run a private PostgreSQL (Debian's) for the shared-database tests.
#
#   tools/pg-server.sh DIR [PORT] &     start (PORT defaults to 5499)
#   tools/pg-server.sh --stop DIR       stop the server running in DIR
#
# Everything lives in DIR: the cluster (DIR/data, made by initdb on the
# first start and kept across restarts), the unix socket (DIR/run), the
# server's log (DIR/postgres.log) and server.json for tests:
#
#   {"url": "postgresql+psycopg2://novahooks:novahooks@127.0.0.1:PORT/novahooks",
#    "host": "127.0.0.1", "port": PORT, "user": "novahooks",
#    "password": "novahooks", "database": "novahooks", ...}
#
# Listens on 127.0.0.1 only; trust authentication for local and 127.0.0.1
# connections (the role's password is set but not needed); fsync,
# synchronous_commit and full_page_writes are off: a test server, fast and
# not crash-safe. The database "novahooks" is owned by the role
# "novahooks", so the role owns its public schema (tests drop and recreate
# it between tests).
#
# PostgreSQL refuses to run as root: as root, the cluster runs as the
# "postgres" system user that Debian's package creates (runuser), DIR is
# chown'ed to it, and every directory above DIR must let it through (a
# mktemp -d under /tmp does; pytest's tmp_path, mode 0700, does not). As
# another user, the cluster runs as that user.
#
# The script returns only when the server stops: it starts postgres in the
# foreground, waits until it accepts connections, creates the role and the
# database (once), writes server.json, prints "ready", then waits for
# postgres. SIGTERM/SIGINT/SIGHUP to the script make postgres shut down
# fast (SIGINT to the postmaster: clients are disconnected, no waiting for
# them). --stop uses pg_ctl stop -m fast.
#
# PostgreSQL (package "postgresql", binaries under
# /usr/lib/postgresql/<version>/bin) is installed with apt-get when
# missing (needs root).
set -euo pipefail

HOST=127.0.0.1
ROLE=novahooks
PASSWORD=novahooks
DATABASE=novahooks
PG_USER=postgres

# shellcheck source=tools/server-args.sh
. "$(dirname "${BASH_SOURCE[0]}")/server-args.sh"

find_bindir() {  # the newest /usr/lib/postgresql/<version>/bin with postgres
    local dir best='' best_version=-1 version
    for dir in /usr/lib/postgresql/*/bin; do
        [[ -x "$dir/postgres" && -x "$dir/initdb" ]] || continue
        version=$(basename "$(dirname "$dir")")
        [[ $version =~ ^[0-9]+$ ]] || continue
        if ((version > best_version)); then
            best=$dir
            best_version=$version
        fi
    done
    [[ -n "$best" ]] || return 1
    echo "$best"
}

# as_owner CMD...: run CMD as the user the cluster belongs to.
as_owner() {
    if ((EUID == 0)); then
        runuser -u "$PG_USER" -- "$@"
    else
        "$@"
    fi
}

postmaster_pid() {  # the running postmaster's pid for data dir $1, or fail
    local pid
    [[ -s "$1/postmaster.pid" ]] || return 1
    pid=$(head -n 1 "$1/postmaster.pid")
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

stop_server() {
    local dir=$1 bindir
    if ! postmaster_pid "$dir/data" >/dev/null; then
        echo "no postgres running in $dir" >&2
        return 0
    fi
    bindir=$(find_bindir) || { echo "PostgreSQL not installed" >&2; exit 1; }
    as_owner "$bindir/pg_ctl" -D "$dir/data" stop -m fast -w -t 30 >&2
}

server_args 5499 "$@"
DATA=$DIR/data
SOCKETS=$DIR/run
# A unix socket path is at most 107 bytes.
if ((${#SOCKETS} + ${#PORT} + 10 > 107)); then
    echo "$DIR is too long for a unix socket path (at most ~90 bytes)" >&2
    exit 1
fi

if pid=$(postmaster_pid "$DATA"); then
    echo "postgres is already running in $DIR (pid $pid)" >&2
    exit 1
fi

if ! BINDIR=$(find_bindir); then
    echo "PostgreSQL not found: installing postgresql with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y --no-install-recommends postgresql >&2
    BINDIR=$(find_bindir)
fi

if ((EUID == 0)); then
    if ! id -u "$PG_USER" >/dev/null 2>&1; then
        echo "no user $PG_USER (Debian's postgresql package creates it)" >&2
        exit 1
    fi
    chown "$PG_USER:" "$DIR"
    if ! runuser -u "$PG_USER" -- test -w "$DIR" -a -x "$DIR"; then
        echo "user $PG_USER cannot write $DIR: every directory above it" \
             "must be searchable by $PG_USER (use a mktemp -d under /tmp)" >&2
        exit 1
    fi
fi

# The cluster: made once per directory.
if [[ ! -s "$DATA/PG_VERSION" ]]; then
    rm -rf "$DATA"
    as_owner "$BINDIR/initdb" -D "$DATA" -U "$PG_USER" --auth=trust \
        --encoding=UTF8 --locale=C --no-sync >"$DIR/initdb.log" 2>&1 || {
        echo "initdb failed:" >&2
        cat "$DIR/initdb.log" >&2
        exit 1
    }
fi
as_owner mkdir -p "$SOCKETS"
rm -f "$DIR/server.json"

cd "$DIR"
as_owner "$BINDIR/postgres" -D "$DATA" \
    -c listen_addresses="$HOST" -p "$PORT" \
    -c unix_socket_directories="$SOCKETS" \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
    -c max_connections=100 -c shared_buffers=32MB \
    -c logging_collector=off -c log_min_messages=warning \
    >>"$DIR/postgres.log" 2>&1 &
RUNNER_PID=$!

# Shut down fast on a signal: SIGINT to the postmaster itself (as root,
# $RUNNER_PID is runuser, which would SIGKILL postgres 2 s after a TERM).
shutdown() {
    local pid
    if pid=$(postmaster_pid "$DATA"); then
        kill -INT "$pid" 2>/dev/null || true
    else
        kill -INT "$RUNNER_PID" 2>/dev/null || true
    fi
}
trap shutdown TERM INT HUP

fail() {
    echo "$1; see $DIR/postgres.log:" >&2
    tail -n 20 "$DIR/postgres.log" >&2 || true
    shutdown
    wait "$RUNNER_PID" || true
    exit 1
}

# Ready when the server accepts TCP connections on 127.0.0.1:PORT.
ready=no
for _ in $(seq 600); do
    kill -0 "$RUNNER_PID" 2>/dev/null || fail "postgres exited at start"
    if "$BINDIR/pg_isready" -q -h "$HOST" -p "$PORT" -U "$PG_USER" \
            -d postgres -t 1; then
        ready=yes
        break
    fi
    sleep 0.05
done
[[ $ready == yes ]] || fail "postgres not ready within 30 s"

psql_admin() {
    "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PORT" \
        -U "$PG_USER" -d postgres
}

# Role and database: created once, kept across restarts.
psql_admin <<EOF >/dev/null || fail "cannot create role and database"
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$ROLE') THEN
        CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD';
    END IF;
END
\$\$;
SELECT 'CREATE DATABASE $DATABASE OWNER $ROLE'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DATABASE')
\gexec
EOF

URL="postgresql+psycopg2://$ROLE:$PASSWORD@$HOST:$PORT/$DATABASE"
cat > server.json.tmp <<EOF
{
  "url": "$URL",
  "host": "$HOST",
  "port": $PORT,
  "user": "$ROLE",
  "password": "$PASSWORD",
  "database": "$DATABASE",
  "data_dir": "$DATA",
  "socket_dir": "$SOCKETS",
  "log": "$DIR/postgres.log",
  "version": "$(basename "$(dirname "$BINDIR")")"
}
EOF
chmod 600 server.json.tmp
mv server.json.tmp server.json

echo "ready: postgres $(basename "$(dirname "$BINDIR")") on $HOST port" \
     "$PORT, dir $DIR, url $URL"

# Wait for postgres; a trapped signal interrupts wait, so wait again.
status=0
while kill -0 "$RUNNER_PID" 2>/dev/null; do
    wait "$RUNNER_PID" && status=0 || status=$?
done
exit "$status"
