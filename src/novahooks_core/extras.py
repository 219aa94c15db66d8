"""The optional extras: which one brings a module, and the one line that
says what to install (``pip install 'novahooks[dns]'``), for every
command, hook and listener that needs one."""

from typing import Dict, Optional, Sequence

#: Modules of the extras, and the extra that brings each (``None``: the
#: needing plugin's own extra: dns, storage and netinfo each bring
#: SQLAlchemy and Alembic).
MODULES: Dict[str, Optional[str]] = {
    'oslo_messaging': 'listen', 'dns': 'dns', 'sqlalchemy': None,
    'alembic': None}


class MissingExtra(ImportError):
    """``needed_by`` needs an extra that is not installed; the message is
    the one line that says which, and how to install it."""

    def __init__(self, needed_by: str, extra: str, module: str,
                 several: bool = False) -> None:
        super().__init__(
            "%s %s novahooks[%s] (%s %s %s not installed): pip install "
            "'novahooks[%s]'" % (
                needed_by, 'need' if several else 'needs', extra,
                'modules' if ',' in module else 'module', module,
                'are' if ',' in module else 'is', extra),
            name=module)
        self.needed_by, self.extra, self.module = needed_by, extra, module


def together(found: Sequence[MissingExtra]) -> MissingExtra:
    """Several missing extras as one line and one pip command."""
    if len(found) == 1:
        return found[0]

    def joined(values: Sequence[str]) -> str:
        return ','.join(sorted(set(values)))
    return MissingExtra(' and '.join(f.needed_by for f in found),
                        joined([f.extra for f in found]),
                        joined([f.module for f in found]), several=True)


def missing(needed_by: str, exc: BaseException,
            extra: Optional[str] = None) -> Optional[MissingExtra]:
    """``exc`` as the extra ``needed_by`` lacks, when it is the import
    error of an extra's module (``extra``: the one to name when the
    module is in several, e.g. the plugin's own); ``None`` for anything
    else (another import error is a bug, not an install step)."""
    if isinstance(exc, MissingExtra):
        return exc
    if not isinstance(exc, ImportError):
        return None
    module = (exc.name or '').split('.')[0]
    if module not in MODULES:
        return None
    named = MODULES[module] or extra
    return MissingExtra(needed_by, named or module, module)
