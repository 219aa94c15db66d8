"""The Nova releases of the objects tier and where their packages are."""

import os
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]

#: Releases whose object code is tested (they import on Python 3.11).
OBJECT_RELEASES = ('19.3.2', '20.6.1', '21.2.4')
#: Releases of which only ``nova/hooks.py`` runs (test_nova_hooks.py,
#: with their signatures: ``quotas`` in 15's ``_delete_instance``,
#: ``update_cells`` up to 19) and whose signatures are read from their
#: source (test_nova_signatures.py): their ``nova.objects`` cannot import
#: on Python 3.7+ (``async`` is used as a name in their
#: ``nova/db/sqlalchemy/api.py`` and ``nova/compute/api.py``).
#: With OBJECT_RELEASES, one release of each of Nova 15 to 21; 12 to 14
#: are not on the package index: their signatures are recorded from
#: their git tags (recorded_signatures.json,
#: tests/test_recorded_signatures.py).
HOOK_ONLY_RELEASES = ('15.1.5', '16.1.8', '17.0.13', '18.3.0')
RELEASES = HOOK_ONLY_RELEASES + OBJECT_RELEASES

#: Test modules of release/ that need Nova's objects (not collected for
#: HOOK_ONLY_RELEASES); the others run for every release.
OBJECT_TEST_MODULES = ('test_nova_objects.py', 'test_nova_events.py',
                       'test_nova_drift.py')
EVERY_RELEASE_TEST_MODULES = ('test_nova_hooks.py', 'test_nova_signatures.py')


def env_dir() -> pathlib.Path:
    """Where tools/nova-objects-env.sh put the releases and the venv."""
    return pathlib.Path(os.environ.get('NOVA_OBJECTS_ENV')
                        or ROOT / '.venvs' / 'nova-objects')
