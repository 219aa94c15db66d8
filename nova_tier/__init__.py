"""Tests that run inside a real Nova (see tools/run-nova-tests.sh)."""
