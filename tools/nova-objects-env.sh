#!/usr/bin/env bash
# Prepare the environment of the real-Nova "objects" test tier (nova_tier/):
#
#   .venvs/nova-objects/
#     venv/              Python 3.11 with current releases of the libraries
#                        Nova's object, network-model and hooks code imports,
#                        plus this project (editable) and pytest
#     nova-<release>/    `pip install --no-deps --target` of each Nova release
#                        below (put one on sys.path: they cannot coexist)
#     .stamp             hash of this script, requirements.txt and
#                        nova_tier/objects/nova_tier_releases.py (the
#                        releases), and the interpreter version; written
#                        only after a build passed its import checks
#     .stamp-project     hash of setup.cfg and pyproject.toml (the project's
#                        packages and entry points) at its last install
#
# Reuses the environment while .stamp is current, reinstalling only the
# project when .stamp-project is stale; otherwise rebuilds everything from
# nothing. Every build ends with an import check of each release, so a
# stamped environment is known to work. Any failure fails the script.
#
# Usage: tools/nova-objects-env.sh          (prints the environment's path)
# Env:   NOVA_OBJECTS_ENV (directory; default .venvs/nova-objects),
#        NOVAHOOKS_PY311 (interpreter; default pyenv's or PATH's 3.11)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ENV_DIR=${NOVA_OBJECTS_ENV:-$ROOT/.venvs/nova-objects}
VENV="$ENV_DIR/venv"

# The releases are nova_tier/objects/nova_tier_releases.py's: object code
# is tested for OBJECT_RELEASES (19-21); HOOK_ONLY_RELEASES (15-18) only
# run their nova/hooks.py and have their signatures read from the source
# (their nova.objects cannot import on Python 3.7+: `async` is a name in
# their nova/db/sqlalchemy/api.py and nova/compute/api.py).
RELEASES_PY="$ROOT/nova_tier/objects/nova_tier_releases.py"

# What `import nova.objects; nova.objects.register_all()`, nova.network.model,
# nova.context, nova.hooks and the hooked modules (nova.compute.api,
# nova.compute.manager, nova.network.neutron / base_api) import, found by
# importing until nothing was missing. oslo.db 16 dropped oslo_db.concurrency,
# which nova/db/api.py imports.
LIBS=(
    'oslo.versionedobjects' 'oslo.db<16' 'oslo.cache' 'oslo.policy'
    'keystoneauth1' 'castellan' 'cursive' 'openstacksdk'
    'os-resource-classes' 'os-traits' 'os-brick' 'netifaces' 'retrying'
    'paramiko' 'python-glanceclient' 'python-neutronclient'
    'python-cinderclient' 'microversion-parse' 'six' 'eventlet'
    'pytest'
)

log() { printf '=== nova-objects-env: %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

interpreter() {
    local candidate
    if [ -n "${NOVAHOOKS_PY311:-}" ]; then echo "$NOVAHOOKS_PY311"; return; fi
    if command -v pyenv >/dev/null 2>&1; then
        candidate=$(pyenv prefix "$(pyenv versions --bare | grep -E '^3\.11(\.[0-9]+)?$' | tail -n 1)" 2>/dev/null)/bin/python || true
        if [ -x "$candidate" ]; then echo "$candidate"; return; fi
    fi
    if command -v python3.11 >/dev/null 2>&1; then
        command -v python3.11; return
    fi
    die "no Python 3.11 found (set NOVAHOOKS_PY311)"
}

PYTHON=$(interpreter)
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
    || die "$PYTHON is not Python 3.11"

releases() {  # releases NAME: a tuple of nova_tier_releases.py, spaced
    "$PYTHON" -c 'import runpy, sys
print(" ".join(runpy.run_path(sys.argv[1])[sys.argv[2]]))' "$RELEASES_PY" "$1"
}
RELEASES=$(releases RELEASES) && [ -n "$RELEASES" ] \
    || die "no releases in $RELEASES_PY"
OBJECT_RELEASES=$(releases OBJECT_RELEASES) || die "reading $RELEASES_PY"

STAMP="$(cat "${BASH_SOURCE[0]}" "$ROOT/requirements.txt" "$RELEASES_PY" \
    | sha256sum | cut -c1-16)-$("$PYTHON" -c 'import sys; print(sys.version.split()[0])')"
PROJECT_STAMP="$(cat "$ROOT/setup.cfg" "$ROOT/pyproject.toml" | sha256sum \
    | cut -c1-16)"

mkdir -p "$(dirname "$ENV_DIR")"
exec 9>"$ENV_DIR.lock"
flock 9  # one build at a time; a second caller waits, then reuses it

pip_logged() {  # pip_logged LOG ARGS...: pip, its output shown on failure
    local logfile=$1
    shift
    if ! "$VENV/bin/python" -m pip --disable-pip-version-check "$@" \
            > "$logfile" 2>&1; then
        grep -v '^WARNING: Location' "$logfile" >&2 || true
        return 1
    fi
}

install_project() {  # editable, with every extra: the tests see src/
    local extras
    rm -f "$ENV_DIR/.stamp-project"
    extras=$("$VENV/bin/python" -c 'import configparser, sys
parser = configparser.ConfigParser()
parser.read(sys.argv[1])
extras = parser.options("extras") if parser.has_section("extras") else []
print("[%s]" % ",".join(extras) if extras else "")' "$ROOT/setup.cfg")
    pip_logged "$ENV_DIR/project.log" install -q -e "$ROOT$extras" \
        || die "installing $ROOT$extras"
    "$VENV/bin/python" -c 'import novahooks_core' \
        || die "novahooks_core does not import in $VENV"
    echo "$PROJECT_STAMP" > "$ENV_DIR/.stamp-project"
}

if [ -f "$ENV_DIR/.stamp" ] && [ "$(cat "$ENV_DIR/.stamp")" = "$STAMP" ]; then
    if [ "$(cat "$ENV_DIR/.stamp-project" 2>/dev/null)" != "$PROJECT_STAMP" ]; then
        log "setup.cfg or pyproject.toml changed: reinstalling the project"
        install_project
    fi
    log "reusing $ENV_DIR"
    echo "$ENV_DIR"
    exit 0
fi

log "building $ENV_DIR with $PYTHON"
START=$SECONDS
rm -rf "$ENV_DIR"
mkdir -p "$ENV_DIR"

"$PYTHON" -m venv "$VENV"

# Nova releases (pure Python, installed without dependencies) in the
# background, side by side, while the libraries install.
(
    pids=()
    for release in $RELEASES; do
        pip_logged "$ENV_DIR/nova-$release.log" install -q --no-deps \
            --target "$ENV_DIR/nova-$release" "nova==$release" &
        pids+=("$!")
    done
    for pid in "${pids[@]}"; do wait "$pid" || exit 1; done
) &
NOVA_PID=$!

pip_logged "$ENV_DIR/libs.log" install -q "${LIBS[@]}" \
    -r "$ROOT/requirements.txt" || die "installing the libraries"
install_project
wait "$NOVA_PID" || die "installing the Nova releases"

# Import check: a release that does not import here fails the build.
for release in $RELEASES; do
    target="$ENV_DIR/nova-$release"
    OS_NOVA_DISABLE_EVENTLET_PATCHING=1 PYTHONWARNINGS=ignore \
        "$VENV/bin/python" - "$target" "$release" "$OBJECT_RELEASES" \
        <<'EOF' >&2 \
        || die "Nova $release does not import in $VENV"
import importlib
import sys

target, release, object_releases = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, target)
import nova
assert nova.__file__.startswith(target), nova.__file__
import nova.hooks
modules = ['nova.hooks']
if release in object_releases.split():
    import nova.objects
    nova.objects.register_all()
    modules += ['nova.objects', 'nova.network.model', 'nova.context',
                'nova.block_device', 'nova.compute.api',
                'nova.compute.manager']
    modules.append('nova.network.neutron' if release.startswith('21.')
                   else 'nova.network.base_api')
for name in modules:
    importlib.import_module(name)
print('nova %s: imports %s' % (release, ', '.join(modules)))
EOF
done

"$VENV/bin/python" -m pip freeze --exclude-editable > "$ENV_DIR/freeze.txt"
echo "$STAMP" > "$ENV_DIR/.stamp"
log "built in $((SECONDS - START))s"
echo "$ENV_DIR"
