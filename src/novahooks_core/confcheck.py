"""What ``novahooks check`` finds wrong in a configuration file: sections
and options nothing reads (a typo is silently ignored otherwise), with a
"did you mean", and values that cannot be read, naming section and
option.

Known are the options every ``oslo.config.opts`` namespace of novahooks,
oslo.log and oslo.messaging declares (what ``config sample`` prints),
deprecated names included. :func:`unknown` decides, a pure function.
"""

import difflib
import re
from typing import (
    Any,
    Dict,
    Iterable,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Set,
    Tuple,
)
import warnings

from oslo_config import cfg, types
from stevedore import extension

#: Namespaces whose options a novahooks configuration file may hold.
NAMESPACES = ('oslo.log', 'oslo.messaging')

Sections = Mapping[str, Mapping[str, Sequence[str]]]


def hint(name: str, choices: Sequence[str]) -> str:
    """`` (did you mean X?)`` when a choice is close to ``name``."""
    close = difflib.get_close_matches(name, list(choices), 1)
    return ' (did you mean %s?)' % close[0] if close else ''


def unknown(sections: Sections, known: Mapping[str, Set[str]],
            missing: Sequence[str] = ()) -> List[Tuple[str, str]]:
    """(where, problem) for each section and option of ``sections`` (as
    read from the file) that ``known`` (group: option names; ``DEFAULT``
    too) does not have. ``missing``: namespaces that could not be loaded
    (an extra not installed), named for an unknown section; the section
    of a missing ``novahooks.<name>`` namespace is not unknown: its
    plugin's own check says what to install."""
    found: List[Tuple[str, str]] = []
    groups = sorted(known)
    for section, options in sections.items():
        if 'novahooks.%s' % section in missing:
            continue
        if section not in known:
            why = 'unknown section%s' % hint(section, groups)
            if missing:
                why += '; or its plugin is not installed (%s)' % ', '.join(
                    missing)
            found.append(('[%s]' % section, why))
            continue
        names = sorted(known[section])
        for option in options:
            if option not in known[section]:
                found.append(('[%s] %s' % (section, option),
                              'unknown option%s' % hint(option, names)))
    return found


def known_options() -> Tuple[Dict[str, List[cfg.Opt]], List[str]]:
    """The options by group (``DEFAULT`` for none) of every namespace that
    loads, and the novahooks namespaces that do not."""
    missing: List[str] = []

    def skip(manager: object, entry_point: object, exc: BaseException
             ) -> None:
        name = getattr(entry_point, 'name', '?')
        if name.startswith('novahooks'):
            missing.append(name)

    with warnings.catch_warnings():  # (oslo.messaging's imports warn)
        warnings.simplefilter('ignore')
        manager: Any = extension.ExtensionManager(
            'oslo.config.opts', invoke_on_load=False,
            on_load_failure_callback=skip)
    options: Dict[str, List[cfg.Opt]] = {'DEFAULT': []}
    for ext in manager:
        if not (ext.name.startswith('novahooks') or ext.name in NAMESPACES):
            continue
        for group, opts in ext.plugin():
            name = getattr(group, 'name', group) or 'DEFAULT'
            options.setdefault(str(name), []).extend(opts)
    return options, sorted(missing)


#: A group named ``<prefix>:name`` in a plugin's ``list_opts`` is a
#: template: the options of every section ``<prefix>:<name>`` (one per
#: endpoint, say), as oslo-config-generator shows it.
TEMPLATE = ':name'


def expand(options: Mapping[str, Sequence[cfg.Opt]],
           sections: Iterable[str]) -> Dict[str, List[cfg.Opt]]:
    """``options`` with each template group's options given to the
    sections of ``sections`` it matches."""
    found = {group: list(opts) for group, opts in options.items()}
    for template, opts in options.items():
        if not template.endswith(TEMPLATE):
            continue
        prefix = template[:-len(TEMPLATE) + 1]
        for section in sections:
            if section.startswith(prefix) and len(section) > len(prefix):
                found.setdefault(section, list(opts))
    return found


def names(options: Mapping[str, Sequence[cfg.Opt]]) -> Dict[str, Set[str]]:
    """Option names a file may use, by group: each option's own (dashes as
    underscores) and its deprecated names."""
    found: Dict[str, Set[str]] = {}
    for group, opts in options.items():
        for opt in opts:
            found.setdefault(group, set()).add(opt.dest)
            for old in opt.deprecated_opts:
                if old.name and (old.group in (None, group)):
                    found[group].add(old.name.replace('-', '_'))
    return found


def read(path: str) -> Dict[str, Dict[str, List[str]]]:
    """The sections and options of the file at ``path`` as oslo.config
    reads them."""
    sections: Dict[str, Dict[str, List[str]]] = {}
    cfg.ConfigParser(path, sections).parse()
    return sections


def lines(path: str) -> Dict[Tuple[str, str], int]:
    """The line of each option of the file at ``path``, by (section,
    option): the last one, as oslo.config reads the last value."""
    found: Dict[Tuple[str, str], int] = {}
    section = 'DEFAULT'
    with open(path) as stream:
        for number, text in enumerate(stream, 1):
            if text[:1] in ' \t#;':
                continue  # a continuation or a comment
            text = text.strip()
            if text.startswith('[') and text.endswith(']'):
                section = text[1:-1].strip()
            elif '=' in text or ':' in text:
                name = re.split(r'\s*[=:]', text, maxsplit=1)[0].strip()
                found[(section, name.replace('-', '_'))] = number
    return found


def _bounds(kind: Any) -> str:
    low, high = getattr(kind, 'min', None), getattr(kind, 'max', None)
    if low is not None and high is not None:
        return ' from %s to %s' % (low, high)
    if low is not None:
        return ' \u2265 %s' % low
    return ' \u2264 %s' % high if high is not None else ''


def expected(opt: cfg.Opt) -> str:
    """What a value of ``opt`` must be, in words (``a float \u2265 0``)."""
    kind = opt.type
    if isinstance(kind, types.Boolean):
        return 'a boolean: true or false'
    if isinstance(kind, types.Integer):
        return 'an integer' + _bounds(kind)
    if isinstance(kind, types.Float):
        return 'a float' + _bounds(kind)
    choices = getattr(kind, 'choices', None)
    if choices:
        return 'one of %s' % ', '.join(str(c) for c in choices)
    return getattr(kind, 'type_name', 'a value') or 'a value'


def value_problem(opt: cfg.Opt, value: str) -> Optional[str]:
    """Why ``value`` (as written in a file) is not a value of ``opt``
    (``'abc' is not a number (send_budget_ms, a float \u2265 0)``), or
    ``None`` when it is. A secret's value is not shown."""
    try:
        opt.type(value)
        return None
    except (ValueError, TypeError) as exc:
        reason = ' '.join(str(exc).split())
    shown = '***' if opt.secret else repr(value)
    kind = opt.type
    if isinstance(kind, (types.Integer, types.Float)):
        try:
            float(value)
            what = 'is out of range'
        except ValueError:
            what = 'is not a number'
    elif isinstance(kind, types.Boolean):
        what = 'is not true or false'
    elif getattr(kind, 'choices', None):
        what = 'is not one of the choices'
    else:
        what = 'is not valid (%s)' % reason
    return '%s %s (%s, %s)' % (shown, what, opt.dest, expected(opt))


class BadValue(NamedTuple):
    """A value of a file that cannot be read."""

    #: ``file:line [section] option``
    place: str
    #: why, and what it must be
    problem: str
    section: str


def bad_values(paths: Sequence[str],
               options: Mapping[str, Sequence[cfg.Opt]]) -> List[BadValue]:
    """Each known option of the files whose value cannot be read, in the
    files' order."""
    found: List[BadValue] = []
    for path in paths:
        sections = read(path)
        where = lines(path)
        bad: List[Tuple[int, BadValue]] = []
        for group, opts in options.items():
            values = sections.get(group, {})
            for opt in opts:
                if opt.dest not in values:
                    continue
                problem = value_problem(opt, values[opt.dest][-1])
                if problem:
                    line = where.get((group, opt.dest), 0)
                    bad.append((line, BadValue('%s:%s [%s] %s' % (
                        path, line or '?', group, opt.dest), problem, group)))
        found += [value for _, value in sorted(bad)]
    return found


def explain_value(name: str, paths: Sequence[str]) -> Optional[str]:
    """The problem of option ``name``'s value in the files (for an error
    raised when it is read): ``file:line [section] name: why``."""
    try:
        found = bad_values(paths, known_options()[0])
    except Exception:
        return None
    return next(('%s: %s' % (bad.place, bad.problem) for bad in found
                 if bad.place.endswith(' %s' % name)), None)
