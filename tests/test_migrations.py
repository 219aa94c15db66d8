"""Each plugin's Alembic migrations build exactly its tables, idempotently,
on SQLite and PostgreSQL."""

import pathlib
from typing import Any, Callable, List

import pytest
import sqlalchemy as sa

from novahooks_core.notify import guard
from novahooks_core.state import db
from novahooks_dns import service as dns_service
from novahooks_dns import state as dns_state
from novahooks_netinfo import service as netinfo_service
from novahooks_netinfo import store as netinfo_store
from novahooks_storage import ledger, migrate
from tests.pg import database_url, postgres  # noqa: F401

PLUGINS = {
    'dns': (dns_state.metadata, 'dns_alembic_version',
            lambda engine: db.upgrade(engine, dns_service.MIGRATIONS,
                                      'dns_alembic_version')),
    'storage': (ledger.metadata, 'storage_alembic_version',
                migrate.upgrade),
    'netinfo': (netinfo_store.metadata, 'netinfo_alembic_version',
                lambda engine: db.upgrade(engine, netinfo_service.MIGRATIONS,
                                          'netinfo_alembic_version')),
    'listen': (guard.metadata, 'listen_alembic_version',
               lambda engine: db.upgrade(engine, guard.MIGRATIONS,
                                         'listen_alembic_version')),
}


@pytest.mark.parametrize('backend', ['sqlite', 'postgresql'])
@pytest.mark.parametrize('plugin', sorted(PLUGINS))
def test_migrations_match_the_tables(plugin: str, backend: str,
                                     tmp_path: pathlib.Path,
                                     request: pytest.FixtureRequest) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    metadata, version_table, upgrade = PLUGINS[plugin]
    upgrade_fn: Callable[[Any], None] = upgrade  # type: ignore[assignment]
    url = database_url(backend, tmp_path / 'm.db', request)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    upgrade_fn(engine)
    upgrade_fn(engine)  # idempotent
    with engine.connect() as conn:
        diff: List[Any] = compare_metadata(
            MigrationContext.configure(conn), metadata)
    engine.dispose()
    # Tables the database keeps for itself are not the plugin's.
    ignored = {version_table, 'sqlite_sequence'}
    assert [d for d in diff if not (
        d[0] == 'remove_table' and d[1].name in ignored)] == []
