"""A real PostgreSQL for the shared-database tests (tools/pg-server.sh).

``postgres`` (session fixture): a private server on 127.0.0.1 on a free
port, in a fresh directory, stopped at the end of the session. Not in a
conftest, so only the tests that ask for it start it::

    from tests.pg import postgres  # noqa: F401

    def test_something(postgres: PostgresServer) -> None:
        postgres.reset()  # empty database
        engine = sqlalchemy.create_engine(postgres.url)

Needs Debian's ``postgresql`` (the script installs it with apt-get when
missing, as root) and the ``psycopg2`` driver (``psycopg2-binary``);
without them the fixture errors (it does not skip). The server's directory
is a ``mktemp -d`` under the system tmp (pytest's tmp_path is not
reachable by the ``postgres`` user); it is removed at the end unless
$NOVAHOOKS_KEEP_POSTGRES is set.
"""

import os
import pathlib
import tempfile
from typing import Any, Iterator, List, Optional

import pytest
import sqlalchemy as sa
from sqlalchemy import pool

from tests.servers import ROOT, ScriptServer, free_tcp_port

SCRIPT = ROOT / 'tools' / 'pg-server.sh'


class PostgresServer(ScriptServer):
    """postgres run by tools/pg-server.sh in ``directory``.

    The directory must be reachable by the ``postgres`` system user when
    the tests run as root (see the script): :meth:`temporary` makes one.
    """

    script = SCRIPT
    logs = ('script.log', 'initdb.log', 'postgres.log')

    def __init__(self, directory: pathlib.Path, port: int) -> None:
        super().__init__(directory, port)
        self._engine: Any = None

    @classmethod
    def temporary(cls, port: Optional[int] = None) -> 'PostgresServer':
        """A server in a new private directory under the system tmp."""
        directory = tempfile.mkdtemp(prefix='novahooks-pg-')
        return cls(pathlib.Path(directory), port or free_tcp_port(5499))

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``novahooks`` database (psycopg2)."""
        if not self.info:
            raise RuntimeError('postgres is not started')
        return str(self.info['url'])

    def stop(self) -> None:
        """Stop postgres (its test engine first); wait until it is gone."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        super().stop()

    def answers(self) -> bool:
        try:
            with self.engine().connect() as conn:
                return conn.execute(sa.text('SELECT 1')).scalar() == 1
        except sa.exc.OperationalError:
            return False

    # -- helpers for tests ------------------------------------------------

    def engine(self) -> Any:
        """An engine of the test's own (no pooling: holds no locks)."""
        if self._engine is None:
            self._engine = sa.create_engine(self.url, poolclass=pool.NullPool)
        return self._engine

    def reset(self) -> None:
        """An empty database: every table (and sequence...) dropped.

        Connections still open elsewhere (another process's pool) are
        terminated first, so a lock they hold cannot block the drop.
        """
        with self.engine().begin() as conn:
            conn.execute(sa.text(
                'SELECT pg_terminate_backend(pid) FROM pg_stat_activity '
                'WHERE datname = current_database() '
                'AND pid <> pg_backend_pid() AND usename = current_user'))
            conn.execute(sa.text("SET LOCAL lock_timeout = '10s'"))
            conn.execute(sa.text('DROP SCHEMA public CASCADE'))
            conn.execute(sa.text('CREATE SCHEMA public'))

    def table_names(self) -> List[str]:
        """Tables in the public schema."""
        with self.engine().connect() as conn:
            return sorted(row[0] for row in conn.execute(sa.text(
                "SELECT tablename FROM pg_tables "
                "WHERE schemaname = 'public'")))


@pytest.fixture(scope='session')
def postgres() -> Iterator[PostgresServer]:
    """PostgreSQL on a free port in a private directory, for the session."""
    server = PostgresServer.temporary()
    try:
        server.start()
        yield server
    finally:
        if os.environ.get('NOVAHOOKS_KEEP_POSTGRES'):
            server.stop()
        else:
            server.remove()


def database_url(kind: str, path: pathlib.Path,
                 request: pytest.FixtureRequest) -> str:
    """A fresh database of ``kind``: an SQLite file at ``path``, or the
    session's PostgreSQL (``postgres`` fixture), emptied."""
    if kind == 'sqlite':
        return 'sqlite:///%s' % path
    server: PostgresServer = request.getfixturevalue('postgres')
    server.reset()
    return server.url
