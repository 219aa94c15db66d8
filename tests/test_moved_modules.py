"""The modules moved into ``hooks/``, ``state/`` and ``containment/``
keep working at their old paths (users' hooks, installed entry points
and ``notify/`` import them): each old path is the very same module, so
state is never copied and monkeypatching either path patches both."""

import importlib
import pathlib
import subprocess
import sys
from typing import Any

import pytest

from novahooks_core.containment import timing
from novahooks_core.hooks import dispatch, registry

SRC = pathlib.Path(__file__).resolve().parents[1] / 'src'

#: Old path -> new path (doc/source/releasenotes.rst lists the same).
MOVED = {
    'novahooks_core.binding': 'novahooks_core.hooks.binding',
    'novahooks_core.event': 'novahooks_core.hooks.event',
    'novahooks_core.hook': 'novahooks_core.hooks.base',
    'novahooks_core.dispatch': 'novahooks_core.hooks.dispatch',
    'novahooks_core.seen': 'novahooks_core.hooks.seen',
    'novahooks_core.db': 'novahooks_core.state.db',
    'novahooks_core.spool': 'novahooks_core.state.spool',
    'novahooks_core.journal': 'novahooks_core.state.journal',
    'novahooks_core.lru': 'novahooks_core.state.lru',
    'novahooks_core.isolation': 'novahooks_core.containment.isolation',
    'novahooks_core.redact': 'novahooks_core.containment.redact',
    'novahooks_core.timing': 'novahooks_core.containment.timing',
    'novahooks_core.metrics': 'novahooks_core.containment.metrics',
}


@pytest.mark.parametrize('old, new', sorted(MOVED.items()))
def test_an_old_path_is_the_new_module(old: str, new: str) -> None:
    moved = importlib.import_module(new)
    assert importlib.import_module(old) is moved
    package, _, name = old.rpartition('.')
    assert getattr(importlib.import_module(package), name) is moved


def test_the_release_notes_list_every_move() -> None:
    notes = (SRC.parent / 'doc' / 'source' / 'releasenotes.rst').read_text()
    for old, new in MOVED.items():
        assert '``%s``' % old in notes and '``%s``' % new in notes, old


def test_names_read_through_the_old_paths() -> None:
    """What ``notify/``, ``tools/bench`` and users import from the old
    paths: public and private names, the same objects."""
    from novahooks_core.containment import metrics
    from novahooks_core.db import _sqlite_pragmas, alembic_env
    from novahooks_core.dispatch import (
        NAMESPACE,
        BuildInstance,
        handler_classes,
        reset,
    )
    from novahooks_core.event import HookEvent, NotifiedEvent
    from novahooks_core.hook import NovaHook, in_order
    from novahooks_core.hooks import base, event, seen
    from novahooks_core.journal import Journal
    from novahooks_core.metrics import Gauge, gauge_families
    from novahooks_core.seen import SEEN
    from novahooks_core.state import db, journal
    from novahooks_core.timing import _listeners
    assert (_sqlite_pragmas, alembic_env) == (db._sqlite_pragmas,
                                              db.alembic_env)
    assert (NAMESPACE, handler_classes, BuildInstance) == (
        registry.NAMESPACE, registry.handler_classes,
        dispatch.BuildInstance)
    assert reset is dispatch.reset
    assert (HookEvent, NotifiedEvent) == (event.HookEvent,
                                          event.NotifiedEvent)
    assert (NovaHook, in_order) == (base.NovaHook, base.in_order)
    assert Journal is journal.Journal and SEEN is seen.SEEN
    assert (Gauge, gauge_families) == (metrics.Gauge, metrics.gauge_families)
    assert _listeners is timing._listeners


def test_the_installed_entry_point_paths_of_before_still_load() -> None:
    """A setup installed before the move names
    ``novahooks_core.dispatch:...`` in its ``nova.hooks`` entry points."""
    from importlib.metadata import EntryPoint
    for name in ('CreateInstance', 'BuildInstance', 'DeleteInstance',
                 'InstanceNetworkInfo'):
        found = EntryPoint(name, 'novahooks_core.dispatch:%s' % name,
                           'nova.hooks').load()
        assert found is getattr(dispatch, name)


def test_patching_an_old_path_patches_the_module(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Users' tests patch the old paths: the code that runs sees it."""
    import novahooks_core.dispatch as old_dispatch
    import novahooks_core.timing as old_timing
    calls: Any = []
    monkeypatch.setattr(old_timing, 'count',
                        lambda *args: calls.append(args))
    registry.report_once('moved', 'moved:counter', 'novahooks: test %s', 1)
    assert calls and calls[0][0] == 'moved:counter'
    monkeypatch.setattr(old_dispatch, 'active_handlers',
                        lambda point, phase: ())
    assert dispatch.BuildInstance().post is None


def test_the_packages_import_none_of_their_modules() -> None:
    """``lru``, ``journal`` and ``seen`` (read by every hooked call) never
    load SQLAlchemy, an extra only ``state.db``/``state.spool`` need: the
    packages' ``__init__`` import nothing."""
    probe = ('import sys\n'
             'import novahooks_core.state.lru, novahooks_core.state.journal\n'
             'import novahooks_core.hooks.seen, novahooks_core.hooks.base\n'
             'import novahooks_core.containment.metrics\n'
             'print("sqlalchemy" in sys.modules)\n')
    found = subprocess.run([sys.executable, '-c', probe], check=True,
                           stdout=subprocess.PIPE, text=True)
    assert found.stdout.strip() == 'False'
