"""The layering ``doc/source/architecture.rst`` describes (and
``doc/source/contributor/layout.rst`` maps), read from the source: core
never imports a plugin, plugins never import each other, production code
never imports the test kit, only the SQL-backed parts of core import
SQLAlchemy or :mod:`novahooks_core.state.db` (the rest of core runs without the
plugins' extras: ``tests/test_release.py`` installs it so), core has no
import circle, the listener's modules are imported only where they
belong (``notify/`` is a module per job), and a batch is never kept in a
thread-local."""

import ast
import pathlib
from typing import Dict, Iterator, Set, Tuple

SRC = pathlib.Path(__file__).resolve().parents[1] / 'src'
PLUGINS = ('novahooks_dns', 'novahooks_storage', 'novahooks_netinfo',
           'novahooks_webhook')
#: The parts of core that may import SQLAlchemy and novahooks_core.db
#: (they need the dns, storage, netinfo or listen extra).
SQL_MODULES = ('novahooks_core.db', 'novahooks_core.spool',
               'novahooks_core.state.db', 'novahooks_core.state.spool',
               'novahooks_core.notify.guard', 'novahooks_core.notify.endpoint',
               'novahooks_core.notify.batch',
               'novahooks_core.notify.migrations')


def modules() -> Iterator[Tuple[str, pathlib.Path]]:
    for path in sorted(SRC.rglob('*.py')):
        parts = path.relative_to(SRC).with_suffix('').parts
        if parts[-1] == '__init__':
            parts = parts[:-1]
        yield '.'.join(parts), path


def _type_checking_only(tree: ast.Module) -> Set[ast.AST]:
    """The nodes under ``if TYPE_CHECKING:`` (never run)."""
    found: Set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) \
                and node.test.id == 'TYPE_CHECKING':
            for child in node.body:
                found.update(ast.walk(child))
    return found


def imports(path: pathlib.Path, top_level_only: bool = False) -> Set[str]:
    """Every module ``path`` imports (``top_level_only``: outside
    functions, i.e. at import time; never what only a type checker
    reads)."""
    tree = ast.parse(path.read_text(), str(path))
    found: Set[str] = set()
    skipped = _type_checking_only(tree)
    nodes = [node for node in (
        tree.body if top_level_only else list(ast.walk(tree)))
        if node not in skipped]
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update('%s.%s' % (node.module, alias.name)
                         for alias in node.names)
    return found


def graph(top_level_only: bool = False) -> Dict[str, Set[str]]:
    return {name: imports(path, top_level_only) for name, path in modules()}


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + '.')


def test_core_imports_no_plugin_and_plugins_not_each_other() -> None:
    wrong = []
    for module, found in graph().items():
        package = module.split('.')[0]
        for target in found:
            for plugin in PLUGINS:
                if within(target, plugin) and package != plugin:
                    wrong.append((module, target))
    assert not wrong


def test_production_code_never_imports_the_test_kit() -> None:
    wrong = [(module, target) for module, found in graph().items()
             if not within(module, 'novahooks_core.testing')
             for target in found if within(target, 'novahooks_core.testing')]
    assert not wrong


def test_only_the_sql_parts_of_core_import_sqlalchemy() -> None:
    wrong = []
    for module, found in graph(top_level_only=True).items():
        if not within(module, 'novahooks_core') or any(
                within(module, allowed) for allowed in SQL_MODULES):
            continue
        wrong.extend((module, target) for target in found
                     if within(target, 'sqlalchemy')
                     or within(target, 'alembic')
                     or within(target, 'novahooks_core.db')
                     or within(target, 'novahooks_core.spool')
                     or within(target, 'novahooks_core.state.db')
                     or within(target, 'novahooks_core.state.spool'))
    assert not wrong


def test_core_has_no_import_circle() -> None:
    """Between core's modules (packages' ``__init__`` aside: they only
    re-export), counting imports inside functions too."""
    found = {name: path for name, path in modules()
             if within(name, 'novahooks_core') and path.stem != '__init__'}
    edges = {name: {target for target in imports(path) if target in found
                    and target != name}
             for name, path in found.items()}
    circles = []
    state: Dict[str, int] = {}  # 1: on the path, 2: done

    def visit(name: str, path: Tuple[str, ...]) -> None:
        state[name] = 1
        for target in sorted(edges[name]):
            if state.get(target) == 1:
                circles.append(path[path.index(target):] + (target,))
            elif target not in state:
                visit(target, path + (target,))
        state[name] = 2
    for name in sorted(edges):
        if name not in state:
            visit(name, (name,))
    assert not circles


#: The listener's machinery: the order guard, the facts it shares with
#: Neutron's notifications, the batch and the message record.
LISTENER_INTERNALS = ('novahooks_core.notify.batch',
                      'novahooks_core.notify.guard',
                      'novahooks_core.notify.facts',
                      'novahooks_core.notify.message')
#: What the command line starts, checks and replays the listener with.
LISTENER_ENTRIES = ('novahooks_core.notify.options',
                    'novahooks_core.notify.runtime',
                    'novahooks_core.notify.transport',
                    'novahooks_core.notify.endpoint',
                    'novahooks_core.notify.parking')
#: What only names the others, for users' code.
LISTENER_FACADE = 'novahooks_core.notify.listener'


def test_only_notify_imports_the_listeners_modules() -> None:
    """Outside ``notify/``, only the command line imports the listener's
    entries (its options, runtime, transport check, endpoint and journals),
    nothing reaches into its machinery, and no module of the tree imports
    the façade ``notify.listener``: they import the modules themselves."""
    wrong = []
    for module, found in graph().items():
        for target in found:
            if within(target, LISTENER_FACADE):
                wrong.append((module, target))
            if within(module, 'novahooks_core.notify'):
                continue
            if any(within(target, inner) for inner in LISTENER_INTERNALS):
                wrong.append((module, target))
            elif any(within(target, entry) for entry in LISTENER_ENTRIES) \
                    and not within(module, 'novahooks_core.cli'):
                wrong.append((module, target))
    assert not wrong


def test_a_batch_is_never_thread_local() -> None:
    """The listener passes its batch explicitly: nothing in ``notify/``
    keeps state in a ``threading.local``."""
    wrong = []
    for module, path in modules():
        if not within(module, 'novahooks_core.notify'):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr == 'local' \
                    and isinstance(node.value, ast.Name) \
                    and node.value.id == 'threading':
                wrong.append('%s:%d' % (module, node.lineno))
    assert not wrong


#: Old paths kept for users' code (doc/source/releasenotes.rst): each is
#: the same module object as its new one.
MOVED = ('binding', 'event', 'seen', 'hook', 'dispatch', 'db', 'spool',
         'journal', 'lru', 'isolation', 'redact', 'timing', 'metrics')


def test_the_tree_imports_moved_modules_by_their_new_paths() -> None:
    """Only users' code goes through the old paths' shims."""
    old = {'novahooks_core.' + name for name in MOVED}
    wrong = [(module, target) for module, found in graph().items()
             if module not in old for target in found
             if target in old or any(target.startswith(path + '.')
                                     for path in old)]
    assert not wrong
