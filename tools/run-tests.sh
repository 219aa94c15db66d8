#!/usr/bin/env bash
# The whole test suite, as the README and CI run it:
#   1. Python 3.8 with runtime libraries pinned to Nova 21 (Ussuri)'s
#      upper-constraints (test tools may be newer),
#   2. Python 3.11 with current releases, plus ruff and mypy,
#   3. real Nova, layer 2: Nova 19.3.2, 20.6.1 and 21.2.4's own classes,
#      and 15.1.5 to 21.2.4's (one release each) signatures and hook runner,
#      against our binding, normalizers and test factories
#      (tools/run-nova-objects-tests.sh; 12 to 14 from their git tags'
#      recorded extracts, in the pytest suites),
#   4. real Nova, layer 1: Nova 21.2.4's own functional harness booting and
#      deleting servers with our hooks installed, DNS on a real BIND
#      (tools/run-nova-tests.sh),
#   5. real Nova 34 (no hooks): its functional harness's versioned
#      notifications on a real RabbitMQ, consumed by the installed
#      `novahooks listen` (tools/run-nova34-tests.sh),
#   6. real Neutron 28 (2026.1, Python 3.12, tools/neutron-env.sh): its
#      own API server's floating-IP and port notifications merged with
#      Nova's by `novahooks listen` (nova_tier/neutron, with the py311
#      venv's pytest).
# The pytest suites need BIND, Knot, PowerDNS, PostgreSQL, RabbitMQ and
# Prometheus from Debian (installed here with apt-get when missing) and
# fetch Nova 34's notification samples from PyPI once (tests/listen).
# Virtualenvs live in .venvs/ and are rebuilt only when the requirements,
# constraints or setup.cfg change. Any failure fails the run, and so does
# an expected failure (pytest's xfail, testtools' expectFailure) in any
# suite or tier: it is reported as such, never counted as a pass.
#
# Usage: tools/run-tests.sh [pytest args...]
# Env:   NOVAHOOKS_PY38, NOVAHOOKS_PY311 (interpreters), NOVAHOOKS_ENVS
#        (subset of "py38 py311 objects nova21 nova34 neutron", e.g.
#        "py311"; neutron needs py311).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENVS="$ROOT/.venvs"
UC="$ROOT/tools/constraints/ussuri-upper-constraints.txt"
ENVS=${NOVAHOOKS_ENVS:-"py38 py311 objects nova21 nova34 neutron"}

log() { printf '\n=== %s\n' "$*"; }

PASSED=0
count() {  # count FILE REGEX: add the last match's number to PASSED
    local n
    n=$(grep -oE "$2" "$1" | tail -n 1 | grep -oE '[0-9]+' || true)
    PASSED=$((PASSED + ${n:-0}))
}

# An expected failure is what it is, not a pass: no test may rely on one (a
# known limit is asserted plainly, as it behaves today, in a test of its
# own; a check after an expected failure never runs). pytest's (xfail,
# xpass: the summary's "N xfailed"/"N xpassed" and, with -rxX, one XFAIL or
# XPASS line each) and testtools' (tools/testtools_run.py's EXPECTED
# FAILURE and UNEXPECTED SUCCESS blocks and its "expected failures=N")
# are shown and fail the run.
EXPECTED='^(XFAIL|XPASS|EXPECTED FAILURE:|UNEXPECTED SUCCESS:) |[0-9]+ (xfailed|xpassed)\b|expected failures=[1-9]'
expected_failures() {  # expected_failures NAME FILE: fail on any in FILE
    local found
    found=$(grep -E "$EXPECTED" "$2" || true)
    [ -n "$found" ] || return 0
    printf '%s\n' "$found" >&2
    echo "$1: expected failures (above) are not passes: assert a known limit plainly, in a test of its own" >&2
    exit 1
}

interpreter() {  # interpreter VERSION: a python of that minor version
    local version=$1 var candidate
    var="NOVAHOOKS_PY${version//./}"
    if [ -n "${!var:-}" ]; then echo "${!var}"; return; fi
    if command -v pyenv >/dev/null 2>&1; then
        candidate=$(pyenv prefix "$(pyenv versions --bare | grep -E "^${version//./\\.}(\.[0-9]+)?$" | tail -n 1)" 2>/dev/null)/bin/python
        if [ -x "$candidate" ]; then echo "$candidate"; return; fi
    fi
    if command -v "python$version" >/dev/null 2>&1; then
        command -v "python$version"; return
    fi
    echo "no Python $version found (set $var)" >&2
    exit 1
}

fingerprint() {
    cat requirements.txt test-requirements.txt setup.cfg "$UC" "$0" | sha256sum | cut -c1-16
}

build_env() {  # build_env NAME PYTHON CONSTRAINED(yes/no)
    local name=$1 python=$2 constrained=$3 venv="$VENVS/$1"
    local stamp
    stamp="$(fingerprint)-$("$python" -c 'import sys; print(sys.version.split()[0])')"
    if [ -f "$venv/.stamp" ] && [ "$(cat "$venv/.stamp")" = "$stamp" ]; then
        log "$name: reusing $venv"
        return
    fi
    log "$name: building $venv with $python"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    if [ "$constrained" = yes ]; then
        # Test tools are free to be newer than Ussuri's pins.
        grep -v -iE '^(pytest|coverage|hypothesis|mypy|ruff)[=]' "$UC" > "$venv/constraints.txt"
        "$venv/bin/pip" install -q -c "$venv/constraints.txt" -e '.[dns,storage,netinfo,listen]' eventlet
        # Test tools are free to be newer than Ussuri's pins; so is the
        # webhook extra: standardwebhooks needs attrs>=21.3 (Ussuri: 19.3.0).
        "$venv/bin/pip" install -q -e '.[webhook]' -r test-requirements.txt
    else
        "$venv/bin/pip" install -q -e '.[dns,storage,netinfo,listen,webhook]' -r test-requirements.txt
    fi
    echo "$stamp" > "$venv/.stamp"
}

run_suite() {  # run_suite NAME [pytest args]
    local name=$1 venv="$VENVS/$1"
    shift
    log "$name: pytest"
    "$venv/bin/python" -c 'import sys, oslo_config, stevedore; print(sys.version.split()[0], "stevedore", stevedore.__file__)' >/dev/null
    "$venv/bin/pip" freeze | grep -iE '^(oslo\.(config|log|utils)|stevedore|cliff|eventlet)==' | tr '\n' ' '
    echo
    local constraints
    constraints="$([ "$name" = py38 ] && echo "$venv/constraints.txt" || true)"
    NOVAHOOKS_CONSTRAINTS="$constraints" \
        "$venv/bin/python" -m coverage run --source=src -m pytest -q -rfExX -p no:cacheprovider --ignore=tests/webhook "$@" tests doc/example \
        | tee "$VENVS/$name.out"
    count "$VENVS/$name.out" '([0-9]+) passed'
    # The webhook tests in a process of their own: after tests that run
    # commands in process (check imports oslo.service, hence eventlet),
    # the webhook sender's delivery threads and the test receiver
    # deadlocked in eventlet's hub on Python 3.8 (Ussuri's pins).
    NOVAHOOKS_CONSTRAINTS="$constraints" \
        "$venv/bin/python" -m coverage run -a --source=src -m pytest -q -rfExX -p no:cacheprovider "$@" tests/webhook \
        | tee "$VENVS/$name.webhook.out"
    count "$VENVS/$name.webhook.out" '([0-9]+) passed'
    expected_failures "$name" "$VENVS/$name.out"
    expected_failures "$name" "$VENVS/$name.webhook.out"
    "$venv/bin/python" -m coverage report --skip-covered --sort=cover | tail -n 15
}

lint() {
    local venv="$VENVS/py311" html
    log "py311: ruff + mypy (--strict on core) + the documentation (sphinx-build -W)"
    "$venv/bin/ruff" check src tests tools doc nova_tier
    "$venv/bin/mypy" src tools/bench
    "$venv/bin/mypy" --strict src/novahooks_core
    html=$(mktemp -d)
    "$venv/bin/sphinx-build" -q -W -b html doc/source "$html"
    rm -rf "$html"
}

system_packages() {
    # BIND, Knot, PowerDNS, PostgreSQL, RabbitMQ and Prometheus for the
    # DNS, storage, listener and metrics tests (the tests start private
    # servers on 127.0.0.1 themselves); logrotate and systemd-analyze
    # check doc/service.
    export PATH="$PATH:/usr/sbin:/sbin"
    if ! command -v named >/dev/null 2>&1 || ! command -v tsig-keygen >/dev/null 2>&1 \
            || ! command -v knotd >/dev/null 2>&1 || ! command -v keymgr >/dev/null 2>&1 \
            || ! command -v pdns_server >/dev/null 2>&1 || ! command -v pdnsutil >/dev/null 2>&1 \
            || ! ls /usr/lib/*/pdns/libgsqlite3backend.so >/dev/null 2>&1 \
            || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
            || [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ] \
            || ! command -v prometheus >/dev/null 2>&1 \
            || ! command -v logrotate >/dev/null 2>&1 \
            || ! command -v systemd-analyze >/dev/null 2>&1; then
        log "installing BIND, Knot, PowerDNS, PostgreSQL, RabbitMQ, Prometheus, logrotate and systemd's tools (apt-get)"
        [ "$(id -u)" = 0 ] || { echo "need root (or named, knot, pdns-server, postgresql, rabbitmq-server, prometheus, logrotate and systemd installed)" >&2; exit 1; }
        # The packages must not start their system daemons (a PowerDNS or
        # BIND on port 53): the tests run private servers. Debian asks
        # policy-rc.d; one is put in place for the install if there is none.
        local policy=/usr/sbin/policy-rc.d made_policy=
        if [ ! -e "$policy" ]; then
            printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && made_policy=yes
        fi
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            bind9 bind9-utils knot knot-dnsutils pdns-server pdns-backend-sqlite3 \
            pdns-tools postgresql rabbitmq-server prometheus logrotate \
            systemd >/dev/null || { [ -z "$made_policy" ] || rm -f "$policy"; exit 1; }
        [ -z "$made_policy" ] || rm -f "$policy"
    fi
}

system_packages
mkdir -p "$VENVS"
# The pytest venvs are built at once (mostly downloads and unpacking),
# each logging to its own file; any failure stops the run with its log.
builds=()
for name in $ENVS; do
    case $name in
        py38) build_env py38 "$(interpreter 3.8)" yes > "$VENVS/py38.build.log" 2>&1 &
              builds+=("$!:py38") ;;
        py311) build_env py311 "$(interpreter 3.11)" no > "$VENVS/py311.build.log" 2>&1 &
               builds+=("$!:py311") ;;
        nova21|nova34|objects|neutron) ;;  # built by their own scripts
        *) echo "unknown env $name" >&2; exit 2 ;;
    esac
done
for build in "${builds[@]}"; do
    if ! wait "${build%%:*}"; then
        cat "$VENVS/${build#*:}.build.log" >&2
        echo "building the ${build#*:} venv failed" >&2
        exit 1
    fi
    grep -v '^WARNING: Location' "$VENVS/${build#*:}.build.log" || true
done

# The real-Nova tiers run in the background while the pytest suites run
# (one after the other, on one core): their venvs are built first, then
# each tier runs in turn, its output in $VENVS/NAME.out. Once the suites
# have passed, each tier's output is shown and checked.
tier_builds() {
    case " $ENVS " in *" objects "*)
        NOVAHOOKS_PY311="$(interpreter 3.11)" bash tools/nova-objects-env.sh ;; esac
    case " $ENVS " in *" nova21 "*)
        NOVAHOOKS_PY38="$(interpreter 3.8)" bash tools/run-nova-tests.sh --build ;; esac
    case " $ENVS " in *" nova34 "*)
        bash tools/run-nova34-tests.sh --build ;; esac
    case " $ENVS " in *" neutron "*)
        bash tools/neutron-env.sh ;; esac
}
tier_run() {  # tier_run NAME: one real-Nova tier (its output on stdout)
    case $1 in
        objects) log "objects: Nova's own classes, releases 15 to 21"
                 NOVAHOOKS_PY311="$(interpreter 3.11)" bash tools/run-nova-objects-tests.sh ;;
        nova21) log "nova21: real Nova 21 functional tier"
                NOVAHOOKS_PY38="$(interpreter 3.8)" bash tools/run-nova-tests.sh 2>&1 \
                    | grep -vE "^WARNING: Location" ;;
        nova34) log "nova34: real Nova 34 notifications tier"
                bash tools/run-nova34-tests.sh 2>&1 ;;
        neutron) log "neutron: real Neutron 28 floating-IP tier"
                 [ -x "$VENVS/py311/bin/python" ] || { echo "the neutron tier needs the py311 venv" >&2; return 1; }
                 "$VENVS/py311/bin/python" -m pytest -q -rfExX -p no:cacheprovider nova_tier/neutron ;;
    esac
}
tiers() {
    tier_builds > "$VENVS/tiers.build.log" 2>&1 || { echo build > "$VENVS/tiers.failed"; return 1; }
    for name in $ENVS; do
        case $name in objects|nova21|nova34|neutron)
            tier_run "$name" > "$VENVS/$name.out" 2>&1 || echo "$name" >> "$VENVS/tiers.failed" ;;
        esac
    done
}
rm -f "$VENVS/tiers.failed"
tiers &
TIERS=$!
trap '[ -z "$TIERS" ] || kill "$TIERS" 2>/dev/null || true' EXIT
for name in $ENVS; do
    case $name in
        objects|nova21|nova34|neutron) ;;
        *) run_suite "$name" "$@" ;;
    esac
done
wait "$TIERS" || true
TIERS=
if [ -f "$VENVS/tiers.failed" ] && grep -qx build "$VENVS/tiers.failed"; then
    cat "$VENVS/tiers.build.log" >&2
    echo "building the real-Nova tiers' venvs failed" >&2
    exit 1
fi
[ ! -f "$VENVS/tiers.build.log" ] || grep -E '^=== ' "$VENVS/tiers.build.log" || true
for name in $ENVS; do
    case $name in objects|nova21|nova34|neutron)
        cat "$VENVS/$name.out"
        expected_failures "$name" "$VENVS/$name.out"
        if [ -f "$VENVS/tiers.failed" ] && grep -qx "$name" "$VENVS/tiers.failed"; then
            echo "$name tier failed" >&2
            exit 1
        fi ;;
    esac
    case $name in
        objects|neutron) count "$VENVS/$name.out" '([0-9]+) passed' ;;
        # (tools/testtools_run.py's last line: "OK (passed=N[, skipped=M])";
        # testtools' "Ran N tests" counts skips and expected failures too.)
        nova21|nova34) grep -qE '^OK' "$VENVS/$name.out" || { echo "$name tier failed" >&2; exit 1; }
                       count "$VENVS/$name.out" '^OK \(passed=[0-9]+' ;;
    esac
done
case " $ENVS " in *" py311 "*) lint ;; esac
log "all suites passed: $ENVS"
echo "$PASSED passed, 0 failed"
