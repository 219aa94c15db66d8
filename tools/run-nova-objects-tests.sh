#!/usr/bin/env bash
# The real-Nova objects tier: our normalizers, factories and hook classes
# against Nova's own classes and nova.hooks from real Nova releases
# (19.3.2, 20.6.1, 21.2.4 objects; 15.1.5, 16.1.8, 17.0.13, 18.3.0 hooks
# and signatures).
#
# Builds (or reuses) .venvs/nova-objects with tools/nova-objects-env.sh, then
# runs nova_tier/objects with that environment's pytest: one subprocess per
# release. Any failure fails the run.
#
# Usage: tools/run-nova-objects-tests.sh [pytest args...]
#        e.g. -k 21.2.4   (one release), -s (show each release's report)
# One release's tests directly (after a build):
#   .venvs/nova-objects/venv/bin/python -m pytest nova_tier/objects/release \
#       --nova-release 21.2.4
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

ENV_DIR=$("$ROOT/tools/nova-objects-env.sh")
[ -x "$ENV_DIR/venv/bin/python" ] || {
    echo "nova-objects-env.sh did not produce $ENV_DIR/venv" >&2
    exit 1
}

printf '\n=== nova-objects: pytest (%s)\n' "$ENV_DIR"
export NOVA_OBJECTS_ENV="$ENV_DIR"
exec "$ENV_DIR/venv/bin/python" -m pytest -p no:cacheprovider -q -rfEX \
    "$@" nova_tier/objects
