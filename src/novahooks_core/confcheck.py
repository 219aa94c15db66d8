"""What ``novahooks check`` finds wrong in a configuration file: sections
and options nothing reads (a typo is silently ignored otherwise), with a
"did you mean", and values that cannot be read, naming section and
option.

Known are the options every ``oslo.config.opts`` namespace of novahooks,
oslo.log and oslo.messaging declares (what ``config sample`` prints),
deprecated names included. :func:`unknown` decides, a pure function.
"""

import difflib
from typing import (
    Any,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Set,
    Tuple,
)
import warnings

from oslo_config import cfg
from stevedore import extension

#: Namespaces whose options a novahooks configuration file may hold.
NAMESPACES = ('oslo.log', 'oslo.messaging')

Sections = Mapping[str, Mapping[str, Sequence[str]]]


def _hint(name: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), 1)
    return ' (did you mean %s?)' % close[0] if close else ''


def unknown(sections: Sections, known: Mapping[str, Set[str]],
            missing: Sequence[str] = ()) -> List[Tuple[str, str]]:
    """(where, problem) for each section and option of ``sections`` (as
    read from the file) that ``known`` (group: option names; ``DEFAULT``
    too) does not have. ``missing``: namespaces that could not be loaded
    (an extra not installed), named for an unknown section."""
    found: List[Tuple[str, str]] = []
    groups = sorted(known)
    for section, options in sections.items():
        if section not in known:
            why = 'unknown section%s' % _hint(section, groups)
            if missing:
                why += '; or its plugin is not installed (%s)' % ', '.join(
                    missing)
            found.append(('[%s]' % section, why))
            continue
        names = sorted(known[section])
        for option in options:
            if option not in known[section]:
                found.append(('[%s] %s' % (section, option),
                              'unknown option%s' % _hint(option, names)))
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


def bad_values(conf: cfg.ConfigOpts, sections: Sections,
               options: Mapping[str, Sequence[cfg.Opt]]
               ) -> List[Tuple[str, str]]:
    """(where, problem) for each known option of the file whose value
    cannot be read (``conf`` loaded from it; the groups are registered
    here)."""
    found: List[Tuple[str, str]] = []
    for group, opts in options.items():
        if group not in sections:
            continue
        try:
            conf.register_opts(list(opts), group=None if group == 'DEFAULT'
                               else group)
        except cfg.DuplicateOptError:
            pass  # registered already, with another definition: read as is
        for opt in opts:
            if opt.dest not in sections[group]:
                continue
            try:
                node: Optional[object] = (conf if group == 'DEFAULT'
                                          else conf[group])
                getattr(node, opt.dest)
            except (cfg.ConfigFileValueError, ValueError) as exc:
                value = sections[group][opt.dest][-1]
                reason = str(exc).split(' is not valid: ')[-1]
                found.append(('[%s] %s' % (group, opt.dest),
                              '%r is not a valid value: %s' % (
                                  '***' if opt.secret else value, reason)))
    return found
