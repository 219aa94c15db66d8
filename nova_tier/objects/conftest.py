"""pytest set-up of the real-Nova objects tier (see README.md beside this).

Two levels. ``pytest nova_tier/objects`` collects only ``test_releases.py``,
which runs the tests in ``release/`` once per Nova release, each in a fresh
interpreter started with ``--nova-release=X``: the releases' ``nova``
packages cannot share a process. With that option only ``release/`` is
collected, and ``.venvs/nova-objects/nova-X`` (built by
``tools/nova-objects-env.sh``) goes first on ``sys.path``.
"""

import os
import pathlib
import sys
import types
from typing import Iterator, List, Optional, Tuple
import warnings

from nova_tier_releases import (
    OBJECT_RELEASES,
    OBJECT_TEST_MODULES,
    RELEASES,
    env_dir,
)
import pytest

HERE = pathlib.Path(__file__).resolve().parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        '--nova-release', choices=RELEASES, default=None,
        help='run release/ against this Nova release (its package from '
             '.venvs/nova-objects/nova-<release> goes first on sys.path)')


def _release(config: pytest.Config) -> Optional[str]:
    value: Optional[str] = config.getoption('--nova-release')
    return value


def pytest_configure(config: pytest.Config) -> None:
    release = _release(config)
    if release is None:
        return
    target = env_dir() / ('nova-' + release)
    if not (target / 'nova' / 'hooks.py').is_file():
        raise pytest.UsageError('%s has no nova/hooks.py: run '
                                'tools/nova-objects-env.sh first' % target)
    # Nova 19's nova.monkey_patch (imported by nova.compute.api) asks
    # eventlet for oslo.service's "service_hub", which current oslo.service
    # no longer has; Nova's own switch turns the patching off. Nothing here
    # needs a monkey-patched process.
    os.environ['OS_NOVA_DISABLE_EVENTLET_PATCHING'] = '1'
    sys.path.insert(0, str(target))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # eventlet's own deprecation
        import nova
    if not str(nova.__file__).startswith(str(target)):
        raise pytest.UsageError('nova imported from %s, not %s'
                                % (nova.__file__, target))
    # Nova and its libraries are full of DeprecationWarnings about
    # themselves; they are not this project's concern.
    config.addinivalue_line('filterwarnings', 'ignore::DeprecationWarning')
    config.addinivalue_line('filterwarnings',
                            'ignore::PendingDeprecationWarning')
    config.addinivalue_line('filterwarnings',
                            r'ignore:\s*Eventlet is deprecated')


def pytest_report_header(config: pytest.Config) -> Optional[str]:
    release = _release(config)
    if release is None:
        return 'nova tier: releases %s (one subprocess each)' % ', '.join(
            RELEASES)
    return 'nova tier: Nova %s from %s' % (release,
                                           env_dir() / ('nova-' + release))


def pytest_ignore_collect(collection_path: pathlib.Path,
                          config: pytest.Config) -> Optional[bool]:
    release_dir = HERE / 'release'
    inside = (collection_path == release_dir
              or release_dir in collection_path.parents)
    release = _release(config)
    if release is None:
        return True if inside else None
    if collection_path.is_file() and not inside:
        return True
    if (release not in OBJECT_RELEASES
            and collection_path.name in OBJECT_TEST_MODULES):
        return True
    return None


# Fixtures of release/ (used only with --nova-release).


@pytest.fixture(scope='session')
def release(pytestconfig: pytest.Config) -> str:
    """The Nova release under test, e.g. ``'21.2.4'``."""
    value = _release(pytestconfig)
    assert value is not None
    return value


@pytest.fixture(scope='session')
def major(release: str) -> int:
    """The release's major version, e.g. 21."""
    return int(release.split('.')[0])


@pytest.fixture(scope='session')
def nova(release: str, major: int) -> types.SimpleNamespace:
    """The modules of the Nova release under test (object releases)."""
    if release not in OBJECT_RELEASES:
        pytest.skip('Nova %s: only nova/hooks.py is tested' % release)
    from nova import objects
    import nova.block_device
    import nova.compute.api
    import nova.compute.manager
    import nova.context
    import nova.hooks
    import nova.network.model
    objects.register_all()
    if major >= 21:
        from nova.network import neutron as network_api
    else:
        from nova.network import base_api as network_api
    return types.SimpleNamespace(
        release=release, major=major, objects=objects,
        network_model=nova.network.model, context=nova.context,
        block_device=nova.block_device, hooks=nova.hooks,
        compute_api=nova.compute.api, compute_manager=nova.compute.manager,
        network_api=network_api)


@pytest.fixture
def nova_hooks(release: str) -> Iterator[types.ModuleType]:
    """The release's ``nova.hooks``, with no hook managers cached."""
    import nova.hooks
    nova.hooks.reset()
    yield nova.hooks
    nova.hooks.reset()


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path: pathlib.Path,
                     monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Our configuration comes from a file of the test's own; the test
    plugin ``nova-tier`` is enabled, vetoes are allowed."""
    from novahooks_core import config
    from novahooks_core.containment import timing
    path = tmp_path / 'novahooks.conf'
    path.write_text('[DEFAULT]\nenabled_plugins = nova-tier\n'
                    'allow_veto = true\nstate_dir = %s\n'
                    % (tmp_path / 'state'))
    monkeypatch.setenv(config.CONFIG_ENV, str(path))
    config.reset()
    timing.reset()
    yield
    config.reset()
    timing.reset()


class LazyLoadAttempted(Exception):
    """Raised (after recording) in place of Nova's ``obj_load_attr``."""


class LoadGuard:
    """Records every lazy-load attempt on Nova objects."""

    error = LazyLoadAttempted

    def __init__(self) -> None:
        self.loads: List[Tuple[str, str]] = []


@pytest.fixture
def load_guard(nova: types.SimpleNamespace,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[LoadGuard]:
    """Replace ``obj_load_attr`` of every Nova object class.

    Reading an unset field of a Nova object calls ``obj_load_attr`` (a
    database read, a lazy UUID migration, or OrphanedObjectError without a
    context). The replacement records the attempt before raising, so an
    attempt is seen even where the reader swallows the exception.
    """
    from oslo_versionedobjects import base as ovo_base
    guard = LoadGuard()

    def obj_load_attr(self: object, attrname: str) -> None:
        guard.loads.append((type(self).__name__, attrname))
        raise LazyLoadAttempted('%s.%s' % (type(self).__name__, attrname))

    classes = {ovo_base.VersionedObject}
    for versions in nova.objects.base.NovaObjectRegistry.obj_classes(
            ).values():
        for cls in versions:
            classes.update(cls.__mro__)
    for cls in classes:
        if 'obj_load_attr' in vars(cls):
            monkeypatch.setattr(cls, 'obj_load_attr', obj_load_attr)
    yield guard
    assert guard.loads == [], 'lazy loads attempted: %s' % guard.loads
