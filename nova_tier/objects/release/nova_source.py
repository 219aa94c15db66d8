"""The hooked functions of the ``nova`` package on ``sys.path``, and
Nova's own calls of them, read from its source (so also for releases
whose modules do not import here) with ``nova_hooked`` (the same code
``tools/nova-hooked-signatures.py`` reads the releases not on PyPI
with)."""

import functools
import pathlib
from typing import Dict, List

from nova_hooked import Call, Extract, Hooked, extract, hooked_functions
from nova_hooked import directory_modules as _directory_modules

from novahooks_core.models import HookPoint

__all__ = ['Call', 'Hooked', 'hooked_by_point', 'hooked_functions',
           'source_extract']


def _package() -> pathlib.Path:
    import nova
    return pathlib.Path(str(nova.__file__)).parent


@functools.lru_cache(maxsize=None)
def source_extract() -> Extract:
    """Hooked functions, their calls and their files' blobs."""
    return extract(_directory_modules(_package().parent))


@functools.lru_cache(maxsize=None)
def hooked_by_point() -> Dict[HookPoint, Hooked]:
    """The one hooked function of each hook point; no other hook points."""
    found: Dict[str, List[Hooked]] = hooked_functions(_package())
    assert sorted(found) == sorted(p.value for p in HookPoint), found
    assert all(len(functions) == 1 for functions in found.values()), found
    return {HookPoint(name): functions[0]
            for name, functions in found.items()}
