"""The hooked functions of the ``nova`` package on ``sys.path``, read
from its source (so also for releases whose modules do not import here)."""

import ast
import functools
import pathlib
import types
from typing import Dict, List, Tuple

from novahooks_core.models import HookPoint


class Hooked(types.SimpleNamespace):
    path: str
    qualname: str
    params: Tuple[str, ...]


def _decorator_hook_name(decorator: ast.expr) -> str:
    if (isinstance(decorator, ast.Call)
            and isinstance(decorator.func, ast.Attribute)
            and decorator.func.attr == 'add_hook' and decorator.args
            and isinstance(decorator.args[0], ast.Constant)):
        return str(decorator.args[0].value)
    return ''


def hooked_functions(package: pathlib.Path) -> Dict[str, List[Hooked]]:
    """Every ``@hooks.add_hook(name)`` function of a nova package."""
    found: Dict[str, List[Hooked]] = {}
    for path in sorted(package.rglob('*.py')):
        relative = path.relative_to(package.parent).as_posix()
        if '/tests/' in relative:
            continue
        text = path.read_text(encoding='utf-8')
        if 'add_hook(' not in text or relative == 'nova/hooks.py':
            continue
        # 3.6 grammar: 15 and 17 use ``async`` as a parameter name.
        tree = ast.parse(text, relative, feature_version=(3, 6))
        owners = {id(item): node.name for node in ast.walk(tree)
                  if isinstance(node, ast.ClassDef) for item in node.body}
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in node.decorator_list:
                name = _decorator_hook_name(decorator)
                if name:
                    owner = owners.get(id(node))
                    args = node.args
                    assert not (args.vararg or args.kwarg
                                or args.kwonlyargs), relative
                    found.setdefault(name, []).append(Hooked(
                        path=relative,
                        qualname=('%s.%s' % (owner, node.name) if owner
                                  else node.name),
                        params=tuple(a.arg for a in args.posonlyargs
                                     + args.args)))
    return found


@functools.lru_cache(maxsize=None)
def hooked_by_point() -> Dict[HookPoint, Hooked]:
    """The one hooked function of each hook point; no other hook points."""
    import nova
    found = hooked_functions(pathlib.Path(nova.__file__).parent)
    assert sorted(found) == sorted(p.value for p in HookPoint), found
    assert all(len(functions) == 1 for functions in found.values()), found
    return {HookPoint(name): functions[0]
            for name, functions in found.items()}
