"""Fixtures of the real-Neutron tier: the test servers of tests/ (BIND,
RabbitMQ) and a real Neutron API server per module."""

import pathlib
import tempfile
from typing import Iterator

import pytest

from nova_tier.neutron.server import NeutronServer
from tests.conftest import _isolated_state, write_config  # noqa: F401
from tests.dns.conftest import _fresh_dns_service, bind  # noqa: F401
from tests.listen.conftest import (  # noqa: F401
    listen_conf,
    publisher,
    running,
    samples_dir,
)
from tests.rabbit import RabbitServer, rabbit  # noqa: F401


@pytest.fixture(scope='module')
def neutron_server(rabbit: RabbitServer  # noqa: F811
                   ) -> Iterator[NeutronServer]:
    """Neutron 28 (.venvs/neutron, tools/neutron-env.sh) on 127.0.0.1,
    notifying on the test broker; its directory is kept when it fails."""
    directory = pathlib.Path(tempfile.mkdtemp(prefix='novahooks-neutron-'))
    # The listener's queues are durable (tests/listen): so must Neutron's
    # exchange be (RabbitMQ refuses a second declaration that differs).
    server = NeutronServer(directory, rabbit.url, durable_queues=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()
