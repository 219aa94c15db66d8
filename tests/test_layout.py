"""The layering ``doc/source/architecture.rst`` describes (and
``doc/source/contributor/layout.rst`` maps), read from the source: core
never imports a plugin, plugins never import each other, production code
never imports the test kit, only the SQL-backed parts of core import
SQLAlchemy or :mod:`novahooks_core.db` (the rest of core runs without the
plugins' extras: ``tests/test_release.py`` installs it so), core has no
import circle, the listener's machinery is imported only where it
belongs, and a batch is never kept in a thread-local."""

import ast
import pathlib
from typing import Dict, Iterator, Set, Tuple

SRC = pathlib.Path(__file__).resolve().parents[1] / 'src'
PLUGINS = ('novahooks_dns', 'novahooks_storage', 'novahooks_netinfo')
#: The parts of core that may import SQLAlchemy and novahooks_core.db
#: (they need the dns, storage, netinfo or listen extra).
SQL_MODULES = ('novahooks_core.db', 'novahooks_core.spool',
               'novahooks_core.notify.guard', 'novahooks_core.notify.listener',
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
                     or within(target, 'novahooks_core.spool'))
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
#: Neutron's notifications, and the batch.
LISTENER_INTERNALS = ('novahooks_core.notify.batch',
                      'novahooks_core.notify.guard',
                      'novahooks_core.notify.facts')


def test_only_notify_imports_the_listeners_modules() -> None:
    """Outside ``notify/``, only the command line starts the listener
    (``notify.listener``), and nothing reaches into its machinery."""
    wrong = []
    for module, found in graph().items():
        if within(module, 'novahooks_core.notify'):
            continue
        for target in found:
            if any(within(target, inner) for inner in LISTENER_INTERNALS):
                wrong.append((module, target))
            elif within(target, 'novahooks_core.notify.listener') and not \
                    within(module, 'novahooks_core.cli'):
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
