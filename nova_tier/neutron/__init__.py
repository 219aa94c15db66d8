"""A real OpenStack Neutron API server for tests (tools/neutron_server.py)."""
