"""The real Nova 21 tier (tools/run-nova-tests.sh): Nova 21.2.4's own
functional harness with novahooks' installed ``nova.hooks`` entry points.
"""

# Before anything else, Nova's test modules, as in Nova's own test runs:
# importing nova.tests monkey-patches eventlet, and importing nova.context
# before nova.test breaks the harness's database (the asynchronous network
# allocation fails with "Can't start a SAVEPOINT transaction"; the same
# happens on Nova 34).
from nova.tests.functional import integrated_helpers  # noqa: F401
