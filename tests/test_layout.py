"""The layering DESIGN §2 promises, read from the source: core never
imports a plugin, plugins never import each other, production code never
imports the test kit, and only the SQL-backed parts of core import
SQLAlchemy or :mod:`novahooks_core.db` (the rest of core runs without the
plugins' extras: ``tests/test_release.py`` installs it so)."""

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


def imports(path: pathlib.Path, top_level_only: bool = False) -> Set[str]:
    """Every module ``path`` imports (``top_level_only``: outside
    functions, i.e. at import time)."""
    tree = ast.parse(path.read_text(), str(path))
    found: Set[str] = set()
    nodes = (tree.body if top_level_only else list(ast.walk(tree)))
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
