# shellcheck shell=bash
# Sourced by tools/{bind,knot,pdns}-server.sh: what the three private DNS
# servers share (zones, key, server.json, readiness and the wait for the
# server), so that the tests see one server whichever runs.

PYTHON=${PYTHON:-python3}
KEY_NAME=novahooks-key
ALGORITHM=hmac-sha256
ZONES=(
    cloud.internal.
    0.0.10.in-addr.arpa.
    4.24.172.in-addr.arpa.
    0.0.0.0.0.0.0.0.0.1.0.0.0.0.d.f.ip6.arpa.
)
REFUSED_ZONE=refused.internal.

# shellcheck source=tools/server-args.sh
. "$(dirname "${BASH_SOURCE[0]}")/server-args.sh"

find_program() {  # find_program NAME: its path (PATH, then /usr/sbin)
    local path
    for path in "$(command -v "$1" 2>/dev/null || true)" "/usr/sbin/$1"; do
        if [[ -n "$path" && -x "$path" ]]; then
            echo "$path"
            return 0
        fi
    done
    return 1
}

write_zone() {  # write_zone FILE: SOA and NS, once (the server keeps it)
    [[ -s "$1" ]] && return 0
    cat > "$1" <<EOF
\$TTL 300
@   IN SOA localhost. hostmaster.localhost. ( 1 3600 600 86400 60 )
    IN NS  localhost.
EOF
}

refuse_if_running() {  # refuse_if_running PIDFILE NAME
    if [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; then
        echo "$2 is already running in $DIR (pid $(cat "$1"))" >&2
        exit 1
    fi
}

apt_install() {  # apt_install WHAT PACKAGE...: needs root
    echo "$1 not found: installing it with apt-get" >&2
    shift
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y --no-install-recommends "$@" >&2
}

write_server_json() {  # write_server_json KIND SECRET UPDATE_LOG, in DIR
    local zones
    zones=$(printf '"%s", ' "${ZONES[@]}" "$REFUSED_ZONE")
    cat > server.json.tmp <<EOF
{
  "server": "$1",
  "host": "127.0.0.1",
  "port": $PORT,
  "key_name": "$KEY_NAME",
  "key_secret": "$2",
  "algorithm": "$ALGORITHM",
  "zones": [${zones%, }],
  "refused_zone": "$REFUSED_ZONE",
  "update_log": "$3"
}
EOF
    chmod 600 server.json.tmp
    mv server.json.tmp server.json
}

serve() {  # serve NAME PID LOG: ready once it answers, then wait for it
    local name=$1 pid=$2 log=$3 status=0
    # shellcheck disable=SC2064  # the pid is known now
    trap "kill -TERM $pid 2>/dev/null || true" TERM INT HUP
    # Ready when an SOA query for the first zone gets an answer (UDP).
    if ! "$PYTHON" - "$PORT" "${ZONES[0]}" "$pid" "$name" <<'EOF'
import os, random, socket, struct, sys, time
port, zone, pid, name = (int(sys.argv[1]), sys.argv[2], int(sys.argv[3]),
                         sys.argv[4])
qid = random.randrange(65536)
qname = b''.join(bytes([len(p)]) + p.encode()
                 for p in zone.rstrip('.').split('.')) + b'\0'
query = struct.pack('!HHHHHH', qid, 0, 1, 0, 0, 0) + qname + \
    struct.pack('!HH', 6, 1)
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit('%s exited before it was ready' % name)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        try:
            sock.sendto(query, ('127.0.0.1', port))
            reply = sock.recv(4096)
        except OSError:
            time.sleep(0.05)
            continue
    if reply[:2] == query[:2] and reply[3] & 0x0f == 0 and \
            struct.unpack('!H', reply[6:8])[0] > 0:
        sys.exit(0)
    time.sleep(0.05)
sys.exit('%s did not answer within 30 s' % name)
EOF
    then
        echo "$name failed to start; see $log" >&2
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" || true
        exit 1
    fi
    echo "ready: $name (pid $pid) on 127.0.0.1 port $PORT, dir $DIR"
    # A trapped signal interrupts wait, so wait again. A server without a
    # SIGTERM handler (pdns_server) dies of it: that is a stop, status 0.
    while kill -0 "$pid" 2>/dev/null; do
        wait "$pid" && status=0 || status=$?
    done
    ((status == 128 + 15)) && status=0
    exit "$status"
}
