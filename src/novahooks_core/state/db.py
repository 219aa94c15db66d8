"""SQL state for plugins: SQLite (WAL) under ``state_dir`` by default, or
any SQLAlchemy URL (e.g. PostgreSQL) when many hosts share it.

Engines are created lazily, once per process and plugin, and reused.
Writes made inside Nova run in :func:`transaction` with a time limit, and
:func:`is_transient` tells the failures that waiting can cure from the
others (see :mod:`novahooks_core.state.spool`).

Plugins write through :func:`begin` (or :func:`transaction`) and read
through :func:`connect`. Inside a :class:`Unit` (the notification
listener's batch) these share one transaction per engine, each
:func:`begin` a savepoint in it, committed together; elsewhere each
:func:`begin` is a transaction of its own.

SQLAlchemy and Alembic come with the plugins' extras (``dns``, ``storage``,
``netinfo``, ``listen``), not with core: only the plugins, the spool and
the listener (``notify.guard``, ``notify.listener``) import this module.
The rest of core runs without them (``tests/test_layout.py``).
"""

import contextlib
import os
import re
import sqlite3
import threading
import time
from typing import (
    Any,
    Callable,
    Dict,
    Hashable,
    Iterator,
    List,
    Optional,
    Sequence,
    Set,
    Tuple,
    TypeVar,
)
import urllib.parse

from oslo_log import log as logging
import sqlalchemy
from sqlalchemy import event
from sqlalchemy import exc as sa_exc

from novahooks_core import config

LOG = logging.getLogger(__name__)

_lock = threading.Lock()
_engines: Dict[str, Any] = {}
# Alembic's ``context`` is one module-level proxy: two migrations at once
# in one process (threads of a listener) break each other.
_migration_lock = threading.Lock()


def _sqlite_read_only(url: str) -> str:
    """``url`` (an SQLite file) for a read-only command
    (:func:`novahooks_core.config.read_only`): never created, and not
    turned to WAL (made by ``db sync``, the file is WAL already); a
    synced database still takes its spool's replay."""
    path = sqlalchemy.engine.url.make_url(url).database
    if not path or path == ':memory:':
        return url
    if not os.path.exists(path):
        raise config.NotSynced('database %s does not exist yet: run '
                               '"novahooks db sync"' % path)
    return 'sqlite:///file:%s?mode=rw&uri=true' % urllib.parse.quote(
        os.path.abspath(path))


def _sqlite_busy_timeout(connection: Any, record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute('PRAGMA busy_timeout=%d' % BUSY_TIMEOUT_MS)
    cursor.close()


def _sqlite_pragmas(connection: Any, record: Any) -> None:
    """WAL and the busy timeout on each new SQLite connection. Turning a
    new file to WAL needs its write lock, and SQLite says "locked" at once
    there, without waiting: a process that meets another one writing
    (creating the schema, say) tries again within the busy timeout."""
    cursor = connection.cursor()
    cursor.execute('PRAGMA busy_timeout=%d' % BUSY_TIMEOUT_MS)
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000.0
    while True:
        try:
            cursor.execute('PRAGMA journal_mode=WAL')
            break
        except sqlite3.OperationalError as exc:
            if 'locked' not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)
    cursor.execute('PRAGMA synchronous=NORMAL')
    cursor.close()


#: How long a statement waits for a lock by default (SQLite's busy
#: timeout, PostgreSQL's lock_timeout).
BUSY_TIMEOUT_MS = 5000

#: Failures that waiting can cure: the database is unreachable, locked,
#: busy, or timed out (DB-API ``OperationalError``), the pool is
#: exhausted, a connection was lost, or the disk said no.
TRANSIENT = (sa_exc.OperationalError, sa_exc.TimeoutError,
             sa_exc.DisconnectionError, sa_exc.InterfaceError, OSError)


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure that a later retry may not meet."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, TRANSIENT)


class Unit:
    """A unit of work: the writes made through :func:`begin` while it is
    current (:func:`using`) share one transaction per engine, each
    :func:`begin` a savepoint in it (a failing step rolls back alone).

    :meth:`commit` commits the engines in the order they were first used,
    those in ``last`` after the others (the order guard's marks after the
    plugins' effects: a crash between them redoes effects, never loses
    them), then runs what :func:`after_commit` asked of each engine
    committed. Used by one thread.
    """

    def __init__(self, last: Sequence[Any] = ()) -> None:
        self.last = tuple(last)
        self.started = time.monotonic()
        self._open: Dict[Any, Tuple[Any, Any]] = {}
        self._after: Dict[Any, Dict[Hashable, Callable[[], Any]]] = {}

    def connection(self, engine: Any) -> Any:
        """The unit's connection to ``engine``, its transaction begun."""
        found = self._open.get(engine)
        if found is None:
            conn = engine.connect()
            try:
                found = (conn, conn.begin())
                if conn.dialect.name == 'sqlite':
                    _sqlite_begin_immediate(conn)
            except BaseException:
                _close(conn)
                raise
            self._open[engine] = found
        return found[0]

    def after(self, engine: Any, key: Hashable,
              action: Callable[[], Any]) -> None:
        self._after.setdefault(engine, {})[key] = action

    def commit(self) -> None:
        """Commit every engine's transaction (``last`` ones last); raises
        when one fails, the ones not yet committed then rolled back."""
        done: List[Callable[[], Any]] = []
        try:
            for engine in sorted(self._open, key=lambda e: e in self.last):
                conn, transaction = self._open.pop(engine)
                try:
                    transaction.commit()
                finally:
                    _close(conn)
                done += self._after.pop(engine, {}).values()
        finally:
            self.rollback()
            for action in done:
                try:
                    action()
                except Exception:
                    LOG.exception('novahooks: an action after a commit '
                                  'failed')

    def rollback(self) -> None:
        """Roll back what is not committed; never raises."""
        self._after.clear()
        while self._open:
            _, (conn, transaction) = self._open.popitem()
            with contextlib.suppress(Exception):
                transaction.rollback()
            with contextlib.suppress(Exception):
                _close(conn)


def _dbapi(conn: Any) -> Any:
    fairy = conn.connection
    return getattr(fairy, 'dbapi_connection', None) or fairy.connection


def _sqlite_begin_immediate(conn: Any) -> None:
    """Begin the unit's SQLite transaction now, holding the write lock
    (waiting for it as long as the busy timeout): pysqlite would defer
    BEGIN to the first write, so the first SAVEPOINT would start (and its
    RELEASE commit) a transaction of its own."""
    _dbapi(conn).isolation_level = None
    conn.exec_driver_sql('BEGIN IMMEDIATE') if hasattr(
        conn, 'exec_driver_sql') else conn.execute('BEGIN IMMEDIATE')


def _close(conn: Any) -> None:
    """Close a unit's connection (pysqlite's own transaction handling back,
    for the pool's next user)."""
    if conn.dialect.name == 'sqlite':
        with contextlib.suppress(Exception):
            _dbapi(conn).isolation_level = ''
    conn.close()


_local = threading.local()


def current_unit() -> Optional[Unit]:
    """This thread's current unit of work, if any."""
    return getattr(_local, 'unit', None)


@contextlib.contextmanager
def using(unit: Optional[Unit]) -> Iterator[None]:
    """Make ``unit`` (``None``: none) this thread's current unit."""
    before = current_unit()
    _local.unit = unit
    try:
        yield
    finally:
        _local.unit = before


@contextlib.contextmanager
def begin(engine: Any) -> Iterator[Any]:
    """A transaction on ``engine``: a savepoint in the current unit's, or
    ``engine.begin()``."""
    unit = current_unit()
    if unit is None:
        with engine.begin() as conn:
            yield conn
        return
    conn = unit.connection(engine)
    with conn.begin_nested():
        yield conn


@contextlib.contextmanager
def connect(engine: Any) -> Iterator[Any]:
    """A connection to read from: the current unit's (which sees its
    uncommitted writes), or a new one."""
    unit = current_unit()
    if unit is not None:
        yield unit.connection(engine)
        return
    with engine.connect() as conn:
        yield conn


def after_commit(engine: Any, key: Hashable,
                 action: Callable[[], Any]) -> bool:
    """Run ``action`` once the current unit committed ``engine`` (once per
    ``key``): ``True``; ``False`` when there is no unit (the caller acts
    now)."""
    unit = current_unit()
    if unit is None:
        return False
    unit.after(engine, key, action)
    return True


@contextlib.contextmanager
def transaction(engine: Any, timeout: Optional[float] = None
                ) -> Iterator[Any]:
    """:func:`begin`, its lock waits bounded by ``timeout`` seconds
    (SQLite's busy timeout, PostgreSQL's lock and statement timeouts). In
    a unit of work on SQLite there is nothing to wait for: the unit holds
    the database's write lock."""
    with begin(engine) as conn:
        sqlite = conn.dialect.name == 'sqlite'
        if timeout is None or (sqlite and current_unit() is not None):
            yield conn
            return
        wait = max(1, int(timeout * 1000))
        if sqlite:
            # On the driver's connection: a statement SQLAlchemy would
            # build and cache costs more than SQLite's work here.
            raw = _dbapi(conn)
            raw.execute('PRAGMA busy_timeout=%d' % wait)
            try:
                yield conn
            finally:
                with contextlib.suppress(Exception):
                    raw.execute('PRAGMA busy_timeout=%d' % BUSY_TIMEOUT_MS)
            return
        if conn.dialect.name == 'postgresql':
            conn.execute(sqlalchemy.text(
                "SET LOCAL lock_timeout = %d; "
                "SET LOCAL statement_timeout = %d" % (wait, wait)))
        yield conn


#: Values bound by one ``IN (...)`` at most (below SQLite's oldest limit
#: of 999 bound parameters, with room for a statement's others).
IN_CHUNK = 400

_T = TypeVar('_T')


def chunks(items: Sequence[_T]) -> List[List[_T]]:
    """``items`` in slices of :data:`IN_CHUNK`, each for one ``IN (...)``:
    a batch reads its rows with one statement per table (per chunk)."""
    return [list(items[start:start + IN_CHUNK])
            for start in range(0, len(items), IN_CHUNK)]


#: The parameter a statement's ``IN (...)`` of :func:`is_in` binds.
IN = 'k_in'


def is_in(column: Any) -> Any:
    """``column IN (...)`` with the values :func:`rows_in` binds, for a
    statement built once (an expanding ``bindparam``): a new statement per
    call costs SQLAlchemy its cache key (below 1.4: its compilation)."""
    return column.in_(sqlalchemy.bindparam(IN, expanding=True))


def rows_in(conn: Any, statement: Any, values: Sequence[Any],
            **params: Any) -> List[Any]:
    """The rows of ``statement`` (built once, with :func:`is_in`) for
    ``values``, one execution per :func:`chunks` slice, in order."""
    return [row for chunk in chunks(values) for row in execute(
        conn, statement, dict(params, **{IN: chunk}))]


def engine(name: str, url: Optional[str] = None) -> Any:
    """The process's engine for ``name`` (``<state_dir>/<name>.sqlite``
    unless ``url`` is given)."""
    read_only = config.read_only()
    key = '%s|%s|%s' % (name, url or '', read_only)
    found = _engines.get(key)
    if found is not None:
        return found
    with _lock:
        found = _engines.get(key)
        if found is not None:
            return found
        if not url:
            url = 'sqlite:///' + os.path.join(config.state_dir(),
                                              name + '.sqlite')
        if read_only and url.startswith('sqlite'):
            url = _sqlite_read_only(url)
        options: Dict[str, Any] = {}
        if url.startswith('sqlite'):
            options['connect_args'] = {'check_same_thread': False,
                                       'timeout': 5}
            if ':memory:' not in url and url != 'sqlite://':
                # SQLAlchemy 1.3 defaults to NullPool for files: a new
                # connection (and WAL checkpoint) per transaction.
                options['poolclass'] = sqlalchemy.pool.QueuePool
        else:
            options['pool_pre_ping'] = True
            if url.startswith('postgresql'):
                # A locked table or a dead server must not hold Nova: the
                # caller retries, then keeps the work durably.
                options['connect_args'] = {
                    'connect_timeout': 5,
                    'options': '-c lock_timeout=5000 '
                               '-c statement_timeout=15000'}
        created = sqlalchemy.create_engine(url, **options)
        if url.startswith('sqlite'):
            event.listen(created, 'connect', _sqlite_busy_timeout
                         if read_only else _sqlite_pragmas)
        _engines[key] = created
        return created


# Statements on the hot paths are built once, at module level, with bound
# parameters (``sqlalchemy.bindparam``): most of a small write's cost is
# otherwise SQLAlchemy building the statement. SQLAlchemy >= 1.4 caches
# their compiled form; below it (Ussuri's 1.3) :func:`execute` compiles
# each once per dialect.
_LEGACY = tuple(int(x) for x in sqlalchemy.__version__.split('.')[:2]) < (
    1, 4)
_compiled: Dict[Tuple[int, str], Any] = {}


def execute(conn: Any, statement: Any, params: Any = None) -> Any:
    """Execute ``statement``, built once (never per call: it is cached by
    identity on SQLAlchemy < 1.4), with ``params`` (a dict, or a list of
    them). Below 1.4 an ``insert()`` or ``update()`` without ``values``
    compiles every column: run those with ``conn.execute``, which compiles
    the columns the rows give (a statement built once still saves 1.4+
    its cache key)."""
    if not _LEGACY:
        return conn.execute(statement, params or {})
    key = (id(statement), conn.dialect.name)
    compiled = _compiled.get(key)
    if compiled is None:
        compiled = _compiled[key] = statement.compile(dialect=conn.dialect)
    return conn.execute(compiled, params or {})


def upgrade(engine: Any, scripts: str, version_table: str) -> None:
    """Migrate ``engine`` to the head of the Alembic ``scripts`` folder
    (a plugin's ``migrations``), recording it in ``version_table``; safe
    when several processes, or threads, start at once."""
    from alembic import command
    from alembic.config import Config
    alembic_config = Config()
    alembic_config.set_main_option('script_location', scripts)
    alembic_config.attributes['version_table'] = version_table
    for attempt in range(5):
        try:
            with _migration_lock, engine.begin() as conn:
                alembic_config.attributes['connection'] = conn
                command.upgrade(alembic_config, 'head')
            return
        except Exception:
            # Another process created the tables first: its version row is
            # visible on the next try, which then has nothing to do.
            if attempt == 4:
                raise
            time.sleep(0.1 * (attempt + 1))


_heads: Dict[str, str] = {}
_REVISION = re.compile(r"^(down_revision|revision) = (?:'([^']*)'|None)",
                       re.M)


def head_revision(scripts: str) -> str:
    """The newest revision of a plugin's (linear) migrations, read from
    the files without loading Alembic (cached)."""
    found = _heads.get(scripts)
    if found is not None:
        return found
    revisions: Set[str] = set()
    parents: Set[str] = set()
    versions = os.path.join(scripts, 'versions')
    for name in os.listdir(versions):
        if not name.endswith('.py') or name.startswith('__'):
            continue
        with open(os.path.join(versions, name)) as stream:
            for key, value in _REVISION.findall(stream.read()):
                (revisions if key == 'revision' else parents).add(value)
    (head,) = revisions - parents
    _heads[scripts] = head
    return head


def current_revision(engine: Any, version_table: str) -> Optional[str]:
    """The revision the database is at (``None``: never migrated)."""
    try:
        with engine.connect() as conn:
            found = conn.execute(sqlalchemy.text(
                'SELECT version_num FROM %s' % version_table)).scalar()
            return None if found is None else str(found)
    except sa_exc.DBAPIError as exc:
        if is_transient(exc) and not _missing_table(exc):
            raise
        return None


def _missing_table(exc: BaseException) -> bool:
    text = str(exc).lower()
    return 'no such table' in text or 'does not exist' in text


class Schema:
    """A plugin's schema: its Alembic ``scripts`` and version table.

    Operators migrate with ``novahooks db sync`` before Nova's first hooked
    call (:meth:`sync`). The hook path only checks the version, once per
    process (:meth:`ensure`); a database not synced is migrated then, with
    a WARNING, so nothing breaks; a read-only command
    (:func:`novahooks_core.config.read_only`) says so instead.
    """

    def __init__(self, engine: Any, scripts: str,
                 version_table: str) -> None:
        self.engine = engine
        self.scripts = scripts
        self.version_table = version_table
        self._ready = False

    def ensure(self) -> None:
        if self._ready:
            return
        head = head_revision(self.scripts)
        current = current_revision(self.engine, self.version_table)
        if current != head and config.read_only():
            raise config.NotSynced(
                'database %s is at schema %s, not %s: run "novahooks db '
                'sync"' % (repr(self.engine.url), current or 'none', head))
        if current != head:
            LOG.warning('novahooks: database %s is at schema %s, not %s: '
                        'migrating now (run "novahooks db sync" before '
                        'starting Nova)', repr(self.engine.url),
                        current or 'none', head)
            upgrade(self.engine, self.scripts, self.version_table)
        self._ready = True

    def sync(self) -> Tuple[Optional[str], str]:
        """Migrate to the newest schema: (revision before, after)."""
        before = current_revision(self.engine, self.version_table)
        upgrade(self.engine, self.scripts, self.version_table)
        self._ready = True
        return before, head_revision(self.scripts)


def alembic_env() -> None:
    """The body of every plugin's ``migrations/env.py``: run the
    migrations on the connection :func:`upgrade` hands over."""
    from alembic import context
    context.configure(
        connection=context.config.attributes['connection'],
        version_table=context.config.attributes['version_table'])
    with context.begin_transaction():
        context.run_migrations()


def reset() -> None:
    """Dispose every engine (tests, or after a fork)."""
    with _lock:
        for created in _engines.values():
            created.dispose()
        _engines.clear()
