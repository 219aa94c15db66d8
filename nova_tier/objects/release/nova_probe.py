"""Hook classes that record what they were handed, and a way to make a
real ``nova.hooks`` use them."""

import dataclasses
from typing import Any, ClassVar, Dict, List, Mapping, Optional, Sequence, cast

from stevedore import extension

from novahooks_core import HookEvent, HookPoint, NovaHook, Phase, Veto

PLUGIN = 'nova-tier'


@dataclasses.dataclass
class Seen:
    """One handler call: the event, normalized while Nova waited."""

    event: HookEvent
    normalized: Dict[str, Any]
    primitive: Dict[str, Any]
    extra: Dict[str, Any]


class Probe(NovaHook):
    """Records every event, normalized during the call."""

    plugin_name = PLUGIN
    seen: ClassVar[List[Seen]] = []

    def inspect(self, event: HookEvent) -> Dict[str, Any]:
        """Extra facts to record (overridden by tests)."""
        return {}

    def _record(self, event: HookEvent) -> None:
        extra = self.inspect(event)
        Probe.seen.append(Seen(event, event.normalized(),
                               event.normalize_all(), extra))

    def handle_pre(self, event: HookEvent) -> Optional[str]:
        self._record(event)
        return None

    def handle_post(self, event: HookEvent) -> Optional[str]:
        self._record(event)
        return None


class Broken(NovaHook):
    """A handler with an ordinary bug."""

    plugin_name = PLUGIN
    calls: ClassVar[List[Phase]] = []

    def handle_pre(self, event: HookEvent) -> Optional[str]:
        Broken.calls.append(event.phase)
        raise RuntimeError('handler bug')

    def handle_post(self, event: HookEvent) -> Optional[str]:
        Broken.calls.append(event.phase)
        names: Dict[str, str] = {}
        return names['missing']


class Refuser(NovaHook):
    """Refuses every create and build (a :class:`Veto` in ``pre``)."""

    plugin_name = PLUGIN

    def handle_pre(self, event: HookEvent) -> Optional[str]:
        raise Veto('flavor m1.large is not allowed in project-a')


def for_point(base: type, point: HookPoint) -> type:
    """A subclass of ``base`` registered for ``point``."""
    return type('%s_%s' % (base.__name__, point.name), (base,),
                {'hook_point': point, '__module__': __name__})


def install(nova_hooks: Any, hooks: Mapping[str, Sequence[type]]) -> None:
    """Make Nova's ``add_hook`` run these classes for these hook names.

    ``nova.hooks`` keeps one manager per name in ``_HOOKS`` (filled by
    ``setdefault``); a manager of Nova's own ``HookManager`` class, made by
    stevedore's ``make_test_instance``, stands for the entry points.
    """
    for name, classes in hooks.items():
        extensions = [extension.Extension(name, cast(Any, None), cls, cls())
                      for cls in classes]
        manager = nova_hooks.HookManager.make_test_instance(
            extensions, namespace=nova_hooks.NS)
        assert type(manager) is nova_hooks.HookManager
        nova_hooks._HOOKS[name] = manager


def reset() -> None:
    Probe.seen.clear()
    Broken.calls.clear()
