"""Schemas: ``novahooks db sync`` migrates ahead of Nova; the hook path only
checks the version (and migrates lazily, with a WARNING, when not synced).
"""

import logging
import pathlib
import sqlite3
import threading
from typing import Any, List

import pytest
import sqlalchemy as sa

from novahooks_core.notify import guard
from novahooks_core.state import db
from novahooks_dns import service as dns_service
from novahooks_netinfo import service as netinfo_service
from novahooks_storage import migrate
from tests.conftest import WriteConfig, cli

SCRIPTS = {
    'dns': dns_service.MIGRATIONS,
    'storage': migrate.SCRIPTS,
    'netinfo': netinfo_service.MIGRATIONS,
    'listen': guard.MIGRATIONS,
}


@pytest.mark.parametrize('plugin', sorted(SCRIPTS))
def test_the_cheap_head_is_alembics_head(plugin: str) -> None:
    from alembic.script import ScriptDirectory
    scripts = SCRIPTS[plugin]
    assert db.head_revision(scripts) == \
        ScriptDirectory(scripts).get_current_head()


def _engine(tmp_path: pathlib.Path) -> Any:
    return sa.create_engine('sqlite:///%s' % (tmp_path / 's.sqlite'),
                            poolclass=sa.pool.NullPool)



def test_a_new_file_being_written_by_another_process_is_waited_for(
        tmp_path: pathlib.Path) -> None:
    """Turning a new SQLite file to WAL while another connection writes to
    it is refused by SQLite at once ("locked"): the engine's connection
    waits for the writer instead (two processes starting on one new
    database, one creating the schema)."""
    path = tmp_path / 'new.sqlite'
    writer = sqlite3.connect(str(path), isolation_level=None,
                             check_same_thread=False)
    writer.execute('create table t (x)')  # a rollback-journal file
    writer.execute('BEGIN IMMEDIATE')
    writer.execute('insert into t values (1)')
    threading.Timer(0.3, writer.execute, ('COMMIT',)).start()
    created = db.engine('new', 'sqlite:///%s' % path)
    with created.connect() as conn:
        mode = conn.execute(sa.text('PRAGMA journal_mode')).scalar()
        assert conn.execute(sa.text('select count(*) from t')).scalar() == 1
    assert mode == 'wal'
    writer.close()


def test_a_synced_schema_is_only_checked(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    engine = _engine(tmp_path)
    before, after = db.Schema(engine, dns_service.MIGRATIONS,
                              'dns_alembic_version').sync()
    assert (before, after) == (None, db.head_revision(
        dns_service.MIGRATIONS))
    upgrades: List[Any] = []
    monkeypatch.setattr(db, 'upgrade', lambda *a: upgrades.append(a))
    schema = db.Schema(engine, dns_service.MIGRATIONS, 'dns_alembic_version')
    with caplog.at_level(logging.WARNING):
        schema.ensure()
        schema.ensure()
    assert upgrades == [] and caplog.records == []


def test_a_schema_not_synced_is_migrated_with_a_warning(
        tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = _engine(tmp_path)
    schema = db.Schema(engine, dns_service.MIGRATIONS, 'dns_alembic_version')
    with caplog.at_level(logging.WARNING):
        schema.ensure()
    assert db.current_revision(engine, 'dns_alembic_version') == \
        db.head_revision(dns_service.MIGRATIONS)
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert 'novahooks db sync' in record.getMessage()
    assert 'schema none' in record.getMessage()


def test_db_sync_migrates_every_enabled_plugin_once(
        write_config: WriteConfig, tmp_path: pathlib.Path) -> None:
    write_config(enabled_plugins='storage', extra=(
        '[storage]\ndatabase_url = postgresql://nh:pw-in-url@127.0.0.1:1/x'
        '\n'))
    # (An unreachable database fails loudly, its password masked.)
    code, out = cli('db', 'sync', '-f', 'json')
    assert code != 0 and 'pw-in-url' not in str(out)
    write_config(enabled_plugins='dns,storage,netinfo')
    code, rows = cli('db', 'sync', '--listen', '-f', 'json')
    assert code == 0
    heads = {name: db.head_revision(scripts)
             for name, scripts in SCRIPTS.items()}
    assert {(r['Plugin'], r['Was'], r['Now']) for r in rows} == {
        (name, 'none', head) for name, head in heads.items()}
    code, rows = cli('db', 'sync', '--listen', '-f', 'json')
    assert code == 0 and {(r['Plugin'], r['Was'], r['Now']) for r in rows} \
        == {(name, head, head) for name, head in heads.items()}
