"""The real Nova 34 tier (tools/run-nova34-tests.sh): Nova 34.0.0's own
functional harness, its versioned notifications on a real RabbitMQ, and
the installed ``novahooks listen`` driving DNS (a real BIND), storage and
netinfo."""

# Before anything else, Nova's test modules, as in Nova's own test runs:
# importing nova.tests monkey-patches eventlet, and importing nova.context
# (nova.rpc does) before nova.test makes the harness lose the info cache
# the asynchronous network allocation writes (servers then boot with no
# addresses and every notification has ip_addresses []; Nova 34.0.0).
from nova.tests.functional import integrated_helpers  # noqa: F401
