#!/usr/bin/env bash
# Run a private RabbitMQ (Debian's) for the messaging tests.
#
#   tools/rabbitmq-server.sh DIR [PORT] &     start (PORT defaults to 5699)
#   tools/rabbitmq-server.sh --stop DIR       stop the broker running in DIR
#
# Everything lives in DIR: the node's database (DIR/mnesia, made on the
# first start and kept across restarts: durable queues and persistent
# messages survive a restart in the same DIR), its logs (DIR/log), the
# Erlang cookie (DIR/.erlang.cookie, HOME is DIR), the node name
# (DIR/nodename, made once), the config files the script writes
# (DIR/rabbitmq.conf, DIR/enabled_plugins: no plugins), the pid file
# (DIR/rabbit.pid) and server.json for tests:
#
#   {"url": "rabbit://guest:guest@127.0.0.1:PORT/", "host": "127.0.0.1",
#    "port": PORT, "pid": BEAM_PID, "node": "rabbit-novahooks-...@localhost",
#    ...}
#
# The url is an oslo.messaging transport URL (kombu wants amqp://). AMQP
# listens on 127.0.0.1 only, for the default user guest/guest (allowed
# from the loopback only: RabbitMQ's default), vhost "/". Erlang
# distribution is on 127.0.0.1 too: epmd (port 4369, shared by every node
# of the machine) and the node's own port, PORT + 20000 (PORT - 20000 when
# that is above 65535), which must be free as well. The node name,
# rabbit-novahooks-<random hex>@localhost, is made on the first start in
# DIR: brokers in different directories do not clash, and the database
# (named after the node) does not depend on PORT. rabbitmqctl works with
# the directory's cookie: HOME=DIR rabbitmqctl -n NODE list_queues.
#
# The script returns only when the broker stops: it starts rabbitmq-server
# in the foreground (not the system service), waits until the broker
# answers an AMQP handshake on 127.0.0.1:PORT, writes server.json, prints
# "ready", then waits for the broker. SIGTERM/SIGINT/SIGHUP to the script
# stop the broker (SIGTERM to the Erlang VM: a clean shutdown). --stop
# does the same from outside and returns when the VM is gone (SIGKILL
# after 60 s). Once the broker is gone, epmd (started by the first node,
# it outlives it) is killed if no Erlang node at all is registered with
# it any more.
#
# RabbitMQ (package "rabbitmq-server", /usr/lib/rabbitmq/bin) is installed
# with apt-get when missing (needs root). As root the broker runs as root.
set -euo pipefail

HOST=127.0.0.1
USER_NAME=guest
PASSWORD=guest
RABBIT_BIN=/usr/lib/rabbitmq/bin
export PATH="$PATH:/usr/bin:/bin:/usr/sbin:/sbin"

# shellcheck source=tools/server-args.sh
. "$(dirname "${BASH_SOURCE[0]}")/server-args.sh"

alive() {  # is process $1 running (not a zombie)?
    local state
    kill -0 "$1" 2>/dev/null || return 1
    state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
    state=${state%% *}
    [[ $state != Z ]]
}

beam_pid() {  # the running broker's pid for DIR $1, or fail
    local pid
    [[ -s "$1/rabbit.pid" ]] || return 1
    pid=$(head -n 1 "$1/rabbit.pid")
    [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" || return 1
    # Not a recycled pid: the Erlang VM started for this directory.
    grep -qzxF "RABBITMQ_MNESIA_BASE=$1/mnesia" "/proc/$pid/environ" \
        2>/dev/null || return 1
    echo "$pid"
}

stop_epmd_if_idle() {  # kill epmd when no Erlang node is registered
    local names
    # A node unregisters when its connection to epmd closes: soon after
    # the VM exits.
    if [[ -n "${NODE_SHORT:-}" ]]; then
        for _ in $(seq 20); do
            epmd -names 2>/dev/null | grep -q "^name $NODE_SHORT at " \
                || break
            sleep 0.05
        done
    fi
    names=$(epmd -names 2>/dev/null) || return 0  # epmd not running
    grep -q '^name ' <<<"$names" && return 0
    epmd -kill >/dev/null 2>&1 || true
}

stop_server() {
    local dir=$1 pid
    if [[ -s "$dir/nodename" ]]; then
        NODE_SHORT=$(cat "$dir/nodename")
    fi
    if ! pid=$(beam_pid "$dir"); then
        echo "no rabbitmq running in $dir" >&2
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1200); do
        alive "$pid" || break
        sleep 0.05
    done
    if alive "$pid"; then
        echo "rabbitmq (pid $pid) still running after 60 s: SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 200); do
            alive "$pid" || break
            sleep 0.05
        done
    fi
    stop_epmd_if_idle
}

server_args 5699 "$@"
DIST_PORT=$((PORT + 20000))
if ((DIST_PORT > 65535)); then
    DIST_PORT=$((PORT - 20000))
fi

if pid=$(beam_pid "$DIR"); then
    echo "rabbitmq is already running in $DIR (pid $pid)" >&2
    exit 1
fi

if [[ ! -x "$RABBIT_BIN/rabbitmq-server" ]]; then
    echo "RabbitMQ not found: installing rabbitmq-server with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y --no-install-recommends rabbitmq-server >&2
fi
# (Installing the package may start the system's own broker, rabbit@HOST
# on port 5672: not used, and no conflict with ours.)

# (The bash -c scripts take their arguments as $0 and $1.)
# shellcheck disable=SC2016
port_open() {  # does something accept TCP connections on $HOST:$1?
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$HOST" "$1" 2>/dev/null
}

amqp_answers() {  # does an AMQP 0-9-1 broker answer on $HOST:$PORT?
    local reply
    # Protocol header in, connection.start (a method frame: 1) out.
    # shellcheck disable=SC2016
    reply=$(timeout 2 bash -c '
        exec 3<>"/dev/tcp/$0/$1" || exit 1
        printf "AMQP\000\000\011\001" >&3
        head -c 1 <&3 | od -An -tx1' "$HOST" "$PORT" 2>/dev/null) \
        || return 1
    [[ ${reply// /} == 01 ]]
}

for port in "$PORT" "$DIST_PORT"; do
    if port_open "$port"; then
        echo "port $port on $HOST is already in use" >&2
        exit 1
    fi
done

# Node name and cookie: made once per directory.
if [[ ! -s "$DIR/nodename" ]]; then
    echo "rabbit-novahooks-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')" \
        >"$DIR/nodename"
fi
NODE_SHORT=$(cat "$DIR/nodename")
NODE=$NODE_SHORT@localhost
if [[ ! -s "$DIR/.erlang.cookie" ]]; then
    (umask 077; od -An -N16 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F \
        >"$DIR/.erlang.cookie")
fi
chmod 600 "$DIR/.erlang.cookie"
mkdir -p "$DIR/mnesia" "$DIR/log"
echo '[].' >"$DIR/enabled_plugins"
cat >"$DIR/rabbitmq.conf" <<EOF
# Written by tools/rabbitmq-server.sh (each start).
loopback_users.guest = true
log.console = false
log.file.level = info
# A test broker: do not block publishers for a nearly full disk.
disk_free_limit.absolute = 1MB
EOF
rm -f "$DIR/server.json"

export HOME=$DIR
export RABBITMQ_NODENAME=$NODE
export RABBITMQ_NODE_IP_ADDRESS=$HOST
export RABBITMQ_NODE_PORT=$PORT
export RABBITMQ_DIST_PORT=$DIST_PORT
export RABBITMQ_MNESIA_BASE=$DIR/mnesia
export RABBITMQ_LOG_BASE=$DIR/log
export RABBITMQ_PID_FILE=$DIR/rabbit.pid
export RABBITMQ_ENABLED_PLUGINS_FILE=$DIR/enabled_plugins
export RABBITMQ_CONFIG_FILE=$DIR/rabbitmq.conf
# Nothing from /etc/rabbitmq: no advanced.config, no rabbitmq-env.conf
# (the files named here do not exist).
export RABBITMQ_ADVANCED_CONFIG_FILE=$DIR/advanced.config
export RABBITMQ_CONF_ENV_FILE=$DIR/rabbitmq-env.conf
export ERL_EPMD_ADDRESS=$HOST
# The distribution port too on 127.0.0.1 only (Erlang's default: all).
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
unset RABBITMQ_ALLOW_INPUT RABBITMQ_USE_LONGNAME NOTIFY_SOCKET

cd "$DIR"
"$RABBIT_BIN/rabbitmq-server" >>"$DIR/rabbitmq.log" 2>&1 &
RUNNER_PID=$!

# Stop on a signal: SIGTERM to the Erlang VM (rabbit shuts down cleanly),
# or to rabbitmq-server's shell, which forwards it, if the VM has not
# written its pid file yet.
shutdown() {
    local pid
    if pid=$(beam_pid "$DIR"); then
        kill -TERM "$pid" 2>/dev/null || true
    else
        kill -TERM "$RUNNER_PID" 2>/dev/null || true
    fi
}
trap shutdown TERM INT HUP

fail() {
    echo "$1; see $DIR/rabbitmq.log and $DIR/log:" >&2
    local log
    for log in "$DIR/rabbitmq.log" "$DIR/log/$NODE.log"; do
        [[ ! -f "$log" ]] || tail -n 20 "$log" >&2 || true
    done
    shutdown
    wait "$RUNNER_PID" || true
    stop_epmd_if_idle
    exit 1
}

# Ready when the broker answers the AMQP handshake on 127.0.0.1:PORT (rabbit
# opens its listener at the end of its boot).
ready=no
for _ in $(seq 1200); do
    kill -0 "$RUNNER_PID" 2>/dev/null || fail "rabbitmq exited at start"
    if amqp_answers; then
        ready=yes
        break
    fi
    sleep 0.05
done
[[ $ready == yes ]] || fail "rabbitmq not ready within 60 s"
BEAM_PID=$(beam_pid "$DIR") || fail "rabbitmq wrote no pid file"

VERSION=$(readlink -f "$RABBIT_BIN/rabbitmq-server")  # .../VERSION/sbin/...
VERSION=$(basename "$(dirname "$(dirname "$VERSION")")")
VERSION=${VERSION#rabbitmq_server-}
URL="rabbit://$USER_NAME:$PASSWORD@$HOST:$PORT/"
cat > server.json.tmp <<EOF
{
  "url": "$URL",
  "host": "$HOST",
  "port": $PORT,
  "user": "$USER_NAME",
  "password": "$PASSWORD",
  "pid": $BEAM_PID,
  "node": "$NODE",
  "dist_port": $DIST_PORT,
  "data_dir": "$DIR/mnesia",
  "log": "$DIR/log/$NODE.log",
  "version": "$VERSION"
}
EOF
chmod 600 server.json.tmp
mv server.json.tmp server.json

echo "ready: rabbitmq $VERSION on $HOST port $PORT, node $NODE," \
     "dir $DIR, url $URL"

# Wait for the broker; a trapped signal interrupts wait, so wait again.
status=0
while kill -0 "$RUNNER_PID" 2>/dev/null; do
    wait "$RUNNER_PID" && status=0 || status=$?
done
stop_epmd_if_idle
exit "$status"
