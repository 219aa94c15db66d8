"""``db.Unit``: one transaction per engine, a savepoint per step, on real
SQLite and PostgreSQL."""

import pathlib
from typing import Any, Iterator, List

import pytest
import sqlalchemy as sa

from novahooks_core.state import db
from tests.pg import PostgresServer, postgres  # noqa: F401


def count(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text('select count(*) from t')).scalar())


def insert(engine: Any, value: int) -> None:
    with db.begin(engine) as conn:
        conn.execute(sa.text('insert into t (a) values (:a)'), {'a': value})


@pytest.fixture(params=['sqlite', 'postgresql'])
def engine(request: pytest.FixtureRequest, tmp_path: pathlib.Path
           ) -> Iterator[Any]:
    """An engine with an empty table ``t``."""
    if request.param == 'sqlite':
        found = db.engine('unit', 'sqlite:///%s' % (tmp_path / 'u.sqlite'))
    else:
        server: PostgresServer = request.getfixturevalue('postgres')
        server.reset()
        found = db.engine('unit', server.url)
    with found.begin() as conn:
        conn.execute(sa.text('create table t (a integer)'))
    yield found
    db.reset()


def test_steps_share_one_transaction_and_a_failing_one_rolls_back_alone(
        engine: Any) -> None:
    unit = db.Unit()
    done: List[str] = []
    with db.using(unit):
        insert(engine, 1)
        with pytest.raises(RuntimeError):
            with db.begin(engine) as conn:
                conn.execute(sa.text('insert into t (a) values (2)'))
                raise RuntimeError('this step fails')
        insert(engine, 3)
        with db.connect(engine) as conn:  # sees the unit's writes
            assert sorted(r[0] for r in conn.execute(sa.text(
                'select a from t'))) == [1, 3]
        assert db.after_commit(engine, 'k', lambda: done.append('sent'))
        assert db.after_commit(engine, 'k', lambda: done.append('sent'))
        assert count(engine) == 0  # nothing committed yet
    assert db.current_unit() is None
    assert not db.after_commit(engine, 'k', lambda: None)
    unit.commit()
    assert count(engine) == 2 and done == ['sent']


def test_a_unit_rolled_back_leaves_nothing_and_does_nothing_after(
        engine: Any) -> None:
    unit = db.Unit()
    done: List[str] = []
    with db.using(unit):
        insert(engine, 1)
        db.after_commit(engine, 'k', lambda: done.append('sent'))
    unit.rollback()
    assert count(engine) == 0 and done == []
    insert(engine, 1)  # the engine works on (its pool is sound)
    assert count(engine) == 1


def test_last_engines_commit_after_the_others_and_not_when_they_fail(
        postgres: PostgresServer) -> None:  # noqa: F811
    """The order guard's pattern: its engine ``last``; a failing commit of
    a plugin's engine leaves it uncommitted, and the plugin's actions after
    commit are not run (those of an engine committed before are)."""
    postgres.reset()
    guard = db.engine('unit-guard', postgres.url)
    plugin = db.engine('unit-plugin', postgres.url)
    other = db.engine('unit-other', postgres.url)
    with guard.begin() as conn:
        conn.execute(sa.text('create table t (a integer, constraint one_a '
                             'unique (a) deferrable initially deferred)'))
    done: List[str] = []
    unit = db.Unit(last=[guard])
    try:
        with db.using(unit):
            insert(guard, 1)  # used first, committed last
            insert(other, 2)
            db.after_commit(other, 'k', lambda: done.append('other'))
            insert(plugin, 5)
            insert(plugin, 5)  # the deferred constraint fails at commit
            db.after_commit(plugin, 'k', lambda: done.append('plugin'))
        with pytest.raises(sa.exc.IntegrityError):
            unit.commit()
        with guard.connect() as conn:
            assert [r[0] for r in conn.execute(sa.text(
                'select a from t'))] == [2]
        assert done == ['other']
    finally:
        db.reset()
