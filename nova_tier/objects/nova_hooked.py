"""The hooked functions of a Nova source tree, and Nova's own calls to
them, read with :mod:`ast` (standard library only: no Nova, no project).

Used by the objects tier on the installed releases
(``release/nova_source.py``) and by ``tools/nova-hooked-signatures.py`` on
releases that are not on PyPI, read from a directory or a git tag.
Python 3.8 or later (``ast.parse``'s ``feature_version``).
"""

import ast
import hashlib
import pathlib
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

#: ``self.compute_api.create(...)``: the receiver Nova's API layer calls
#: ``API.create`` through (every other hooked method is called as
#: ``self.<name>`` from its own class; functions by name).
RECEIVERS = {'API.create': 'compute_api'}


class Hooked:
    """One ``@hooks.add_hook(name)`` function: where, and its parameters."""

    __slots__ = ('path', 'qualname', 'params')

    def __init__(self, path: str, qualname: str,
                 params: Tuple[str, ...]) -> None:
        self.path = path
        self.qualname = qualname
        self.params = params

    @property
    def is_method(self) -> bool:
        return '.' in self.qualname

    def as_dict(self) -> Dict[str, object]:
        return {'path': self.path, 'qualname': self.qualname,
                'params': list(self.params)}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Hooked) and (
            self.as_dict() == other.as_dict())

    def __repr__(self) -> str:
        return 'Hooked(%s:%s%s)' % (self.path, self.qualname,
                                     self.params)


class Call:
    """One call of a hooked function in Nova's own code, as written.

    ``positional`` counts the arguments written before the keywords (the
    implicit ``self`` of a method call not included); ``starred`` /
    ``double_starred``: ``*args`` / ``**kwargs`` among them (the call's
    full shape is then known only at run time)."""

    __slots__ = ('path', 'line', 'positional', 'keywords', 'starred',
                 'double_starred')

    def __init__(self, path: str, line: int, positional: int,
                 keywords: Tuple[str, ...], starred: bool,
                 double_starred: bool) -> None:
        self.path = path
        self.line = line
        self.positional = positional
        self.keywords = keywords
        self.starred = starred
        self.double_starred = double_starred

    def as_dict(self) -> Dict[str, object]:
        return {'path': self.path, 'line': self.line,
                'positional': self.positional,
                'keywords': list(self.keywords), 'starred': self.starred,
                'double_starred': self.double_starred}


def is_source(relative: str) -> bool:
    """A module of ``nova/`` that is read (not tests, not the runner)."""
    return (relative.startswith('nova/') and relative.endswith('.py')
            and '/tests/' not in relative and relative != 'nova/hooks.py')


def parse(relative: str, text: str) -> ast.Module:
    # 3.6 grammar: 15 to 18 use ``async`` as a name.
    return ast.parse(text, relative, feature_version=(3, 6))


def _decorator_hook_name(decorator: ast.expr) -> str:
    if (isinstance(decorator, ast.Call)
            and isinstance(decorator.func, ast.Attribute)
            and decorator.func.attr == 'add_hook' and decorator.args
            and isinstance(decorator.args[0], ast.Constant)):
        return str(decorator.args[0].value)
    return ''


def hooked_in_text(relative: str, text: str,
                   tree: Optional[ast.Module] = None
                   ) -> List[Tuple[str, Hooked]]:
    """``(hook name, function)`` of every ``add_hook`` in one module
    (``tree``: the module already parsed)."""
    if 'add_hook(' not in text:
        return []
    tree = tree or parse(relative, text)
    owners = {id(item): node.name for node in ast.walk(tree)
              if isinstance(node, ast.ClassDef) for item in node.body}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            name = _decorator_hook_name(decorator)
            if not name:
                continue
            owner = owners.get(id(node))
            args = node.args
            if args.vararg or args.kwarg or args.kwonlyargs:
                raise ValueError('%s: %s takes *args, **kwargs or '
                                 'keyword-only parameters'
                                 % (relative, node.name))
            found.append((name, Hooked(
                path=relative,
                qualname='%s.%s' % (owner, node.name) if owner
                else node.name,
                params=tuple(a.arg for a in args.posonlyargs + args.args))))
    return found


def _call(relative: str, node: ast.Call) -> Call:
    return Call(
        path=relative, line=node.lineno,
        positional=len(node.args),
        keywords=tuple(k.arg for k in node.keywords if k.arg is not None),
        starred=any(isinstance(a, ast.Starred) for a in node.args),
        double_starred=any(k.arg is None for k in node.keywords))


def _calls_with_class(node: ast.AST, owner: str = ''
                      ) -> Iterator[Tuple[ast.Call, str]]:
    """Every call under ``node``, with the class it is written in."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.ClassDef):
            yield from _calls_with_class(child, child.name)
            continue
        if isinstance(child, ast.Call):
            yield child, owner
        yield from _calls_with_class(child, owner)


def _written_as(function: Hooked) -> str:
    """How a call of ``function`` is spelled (what a module that has one
    contains)."""
    name = function.qualname.rsplit('.', 1)[-1]
    if not function.is_method:
        return name + '('
    if function.qualname in RECEIVERS:
        return '%s.%s(' % (RECEIVERS[function.qualname], name)
    return 'self.%s(' % name


def _matches(function: Hooked, relative: str, node: ast.Call,
             owner: str) -> bool:
    func = node.func
    name = function.qualname.rsplit('.', 1)[-1]
    if not function.is_method:
        return ((isinstance(func, ast.Name) and func.id == name)
                or (isinstance(func, ast.Attribute) and func.attr == name))
    if not (isinstance(func, ast.Attribute) and func.attr == name):
        return False
    if function.qualname in RECEIVERS:
        receiver = func.value
        wanted = RECEIVERS[function.qualname]
        return ((isinstance(receiver, ast.Attribute)
                 and receiver.attr == wanted)
                or (isinstance(receiver, ast.Name) and receiver.id == wanted))
    return (relative == function.path and isinstance(func.value, ast.Name)
            and func.value.id == 'self'
            and owner == function.qualname.split('.')[0])


def calls_in_text(relative: str, text: str, hooked: Dict[str, Hooked],
                  tree: Optional[ast.Module] = None
                  ) -> List[Tuple[str, Call]]:
    """``(hook name, call)`` of every call of a hooked function in one
    module: a function by its name (bare or as an attribute), a method
    as ``self.<name>`` inside its own class and module, ``API.create`` as
    ``<...>.compute_api.create``."""
    wanted = {hook_name: function for hook_name, function in hooked.items()
              if _written_as(function) in text and (
                  not function.is_method or function.qualname in RECEIVERS
                  or relative == function.path)}
    if not wanted:
        return []
    tree = tree or parse(relative, text)
    found = []
    for node, owner in _calls_with_class(tree):
        for hook_name, function in wanted.items():
            if _matches(function, relative, node, owner):
                found.append((hook_name, _call(relative, node)))
    return found


def git_blob_sha(data: bytes) -> str:
    """What ``git hash-object`` prints for a file with these bytes."""
    header = b'blob %d\0' % len(data)
    return hashlib.sha1(header + data).hexdigest()


class Extract:
    """What one release's source says: hooked functions, their calls,
    and the git blob of each file they were found in (and of
    ``nova/hooks.py``)."""

    def __init__(self) -> None:
        self.hooked: Dict[str, List[Hooked]] = {}
        self.calls: Dict[str, List[Call]] = {}
        self.files: Dict[str, str] = {}

    def as_dict(self) -> Dict[str, object]:
        return {
            'files': dict(sorted(self.files.items())),
            'hooked': {name: [h.as_dict() for h in functions]
                       for name, functions in sorted(self.hooked.items())},
            'calls': {name: [c.as_dict() for c in sorted(
                calls, key=lambda c: (c.path, c.line))]
                for name, calls in sorted(self.calls.items())},
        }


def extract(modules: Iterable[Tuple[str, bytes]]) -> Extract:
    """Read ``(path relative to the tree's root, bytes)`` of every file
    under ``nova/`` (others are ignored)."""
    result = Extract()
    texts: Dict[str, Tuple[str, str]] = {}
    for relative, data in modules:
        if relative == 'nova/hooks.py':
            result.files[relative] = git_blob_sha(data)
        if is_source(relative):
            texts[relative] = (data.decode('utf-8'), git_blob_sha(data))
    trees: Dict[str, ast.Module] = {}
    single: Dict[str, Hooked] = {}
    for relative, (text, blob) in sorted(texts.items()):
        if 'add_hook(' not in text:
            continue
        trees[relative] = parse(relative, text)
        for name, function in hooked_in_text(relative, text,
                                             trees[relative]):
            result.hooked.setdefault(name, []).append(function)
            result.files[relative] = blob
            single[name] = function
    if any(len(functions) != 1 for functions in result.hooked.values()):
        return result  # ambiguous: no calls attributed
    for relative, (text, blob) in sorted(texts.items()):
        for name, call in calls_in_text(relative, text, single,
                                        trees.get(relative)):
            result.calls.setdefault(name, []).append(call)
            result.files[relative] = blob
    return result


def directory_modules(root: pathlib.Path) -> Iterator[Tuple[str, bytes]]:
    """Every ``nova/**.py`` under a source tree or ``site-packages``-like
    directory (the one holding ``nova/``)."""
    for path in sorted((root / 'nova').rglob('*.py')):
        yield path.relative_to(root).as_posix(), path.read_bytes()


def hooked_functions(package: pathlib.Path) -> Dict[str, List[Hooked]]:
    """Every ``@hooks.add_hook(name)`` function of a ``nova`` package
    directory (its source only)."""
    found: Dict[str, List[Hooked]] = {}
    for path in sorted(package.rglob('*.py')):
        relative = path.relative_to(package.parent).as_posix()
        if not is_source(relative):
            continue
        for name, function in hooked_in_text(
                relative, path.read_text(encoding='utf-8')):
            found.setdefault(name, []).append(function)
    return found

