"""Storage tests: a fresh service and ledger per test."""

import pathlib
from typing import Iterator

import pytest

from novahooks_core import db
from novahooks_storage import service as storage_service
from tests.conftest import WriteConfig


@pytest.fixture(autouse=True)
def _fresh_storage_service() -> Iterator[None]:
    storage_service.reset()
    db.reset()
    yield
    storage_service.reset()
    db.reset()


@pytest.fixture
def ledger_path(write_config: WriteConfig, tmp_path: pathlib.Path
                ) -> pathlib.Path:
    """The storage plugin enabled on an on-disk SQLite ledger."""
    path = tmp_path / 'ledger.sqlite'
    write_config(enabled_plugins='storage', extra=(
        '[storage]\ndatabase_url = sqlite:///%s\n' % path))
    return path
