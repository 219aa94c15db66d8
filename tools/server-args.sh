# shellcheck shell=bash
# Sourced by tools/{bind,knot,pdns,pg,prometheus,rabbitmq}-server.sh: command
# line, and stopping a server by its pid file.
#
#   server_args DEFAULT_PORT "$@"
#
# "--stop DIR" calls the script's stop_server with DIR made absolute, then
# exits 0; "DIR [PORT]" sets DIR (created, absolute) and PORT (default
# DEFAULT_PORT); anything else prints the usage and exits 2.

usage() {
    echo "usage: $0 DIR [PORT] | $0 --stop DIR" >&2
    exit 2
}

server_args() {
    local default_port=$1
    shift
    [[ $# -ge 1 ]] || usage
    if [[ $1 == --stop ]]; then
        [[ $# -eq 2 ]] || usage
        stop_server "$(cd "$2" && pwd)"
        exit 0
    fi
    [[ $# -le 2 ]] || usage
    mkdir -p "$1"
    # shellcheck disable=SC2034  # DIR and PORT are for the sourcing script
    DIR=$(cd "$1" && pwd)
    # shellcheck disable=SC2034
    PORT=${2:-$default_port}
    if ! [[ $PORT =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65535)); then
        usage
    fi
}

stop_by_pidfile() {  # TERM the process of pid file $1, KILL it after $2 s
    local pidfile=$1 seconds=$2 pid
    [[ -f "$pidfile" ]] || { echo "no $pidfile" >&2; return 0; }
    pid=$(cat "$pidfile")
    if [[ -n "$pid" ]] && kill -TERM "$pid" 2>/dev/null; then
        for _ in $(seq $((seconds * 20))); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile"
}
