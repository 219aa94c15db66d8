#!/usr/bin/env bash
# The listener's soak with faults at full size (tests/listen/test_soak.py
# runs it reduced in the suite): 2,000 instances (12,000 notifications:
# boots with a volume, interface attach and detach, updates, half
# deleted) through `novahooks listen` processes on PostgreSQL, DNS on
# BIND; meanwhile a listener is SIGKILLed and restarted, RabbitMQ
# restarted, BIND stopped for 30 s and PostgreSQL restarted. The end
# state (DNS by AXFR, ledger fates, netinfo history, the failed journal)
# must be an in-order replay's. Prints the run's figures.
#
# Usage: tools/soak-listen.sh [INSTANCES] [DNS_DOWN_SECONDS]
#        (the py311 venv of tools/run-tests.sh must exist)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PY="$ROOT/.venvs/py311/bin/python"
[ -x "$PY" ] || { echo "build the venvs first: bash tools/run-tests.sh" >&2; exit 1; }
export NOVAHOOKS_SOAK_INSTANCES=${1:-2000}
export NOVAHOOKS_SOAK_DNS_DOWN=${2:-30}
export NOVAHOOKS_SOAK_TIMEOUT=${NOVAHOOKS_SOAK_TIMEOUT:-3600}
/usr/bin/time -v "$PY" -m pytest -q -s -p no:cacheprovider \
    tests/listen/test_soak.py 2>&1 | grep -E 'soak:|passed|failed|Error|Maximum resident|Elapsed'
