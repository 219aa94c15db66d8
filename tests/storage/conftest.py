"""Storage tests: a fresh service and ledger per test."""

import dataclasses
import pathlib
from typing import Any, Iterator, List

import pytest
import sqlalchemy as sa

from novahooks_core.state import db
from novahooks_storage import service as storage_service
from tests.conftest import WriteConfig
from tests.pg import database_url, postgres  # noqa: F401


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


@dataclasses.dataclass
class Ledger:
    """Where the ledger of a test lives, and a way to look into it."""

    kind: str
    url: str

    def rows(self, query: str) -> List[Any]:
        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                return [tuple(row) for row in conn.execute(sa.text(query))]
        finally:
            engine.dispose()


@pytest.fixture(params=['sqlite', 'postgresql'])
def ledger(request: pytest.FixtureRequest, write_config: WriteConfig,
           tmp_path: pathlib.Path) -> Ledger:
    """The storage plugin enabled on SQLite (a file) and on PostgreSQL."""
    url = database_url(request.param, tmp_path / 'ledger.sqlite', request)
    write_config(enabled_plugins='storage',
                 extra='[storage]\ndatabase_url = %s\n' % url)
    return Ledger(request.param, url)
