"""The Nova releases of the objects tier and where their packages are."""

import os
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]

#: Releases whose object code is tested (they import on Python 3.11).
OBJECT_RELEASES = ('19.3.2', '20.6.1', '21.2.4')
#: Releases of which only ``nova/hooks.py`` runs, with their signatures
#: (``quotas`` in 15's ``_delete_instance``, ``update_cells`` up to 19):
#: their ``nova.objects`` cannot import on Python 3.7+ (``async`` is used
#: as a name in 17's ``nova/db/sqlalchemy/api.py`` and both releases'
#: ``nova/compute/api.py``).
HOOK_ONLY_RELEASES = ('15.1.5', '17.0.13')
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
