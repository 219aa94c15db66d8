"""Fuzz every hook point with garbage: nothing may escape into Nova.

Nova calls ``pre(*args, **kwargs)`` and ``post(rv, *args, **kwargs)`` of
every hook class with whatever its own function was given. Whatever that
is, ``NovaHook`` promises that:

* no exception reaches Nova (a veto aside, and these handlers never veto);
* every handler call is counted under ``plugin:hook:phase``;
* input that breaks normalization is counted as ``bad_input`` (documented
  ``BadInput``) or ``errors`` (anything else), never silently lost.

The ``fuzz`` handlers read every normalized field (``normalize_all``); the
built-in ``audit`` hooks run next to them. An oracle normalizes the same
call outside any hook and tells which outcome the guard must record.
"""

from collections.abc import Mapping
import contextlib
import copy
import dataclasses
import json
import pathlib
import string
from typing import (
    Any,
    Callable,
    Dict,
    FrozenSet,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
    Type,
)
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import Phase as HypothesisPhase
from hypothesis import strategies as st
import pytest

from novahooks_core import NovaHook, audit, config, models, normalize
from novahooks_core.containment import timing
from novahooks_core.hooks.binding import SIGNATURES
from novahooks_core.hooks.event import HookEvent
from novahooks_core.models import HookPoint, Phase
from novahooks_core.normalize import BadInput
from novahooks_core.testing import (
    RELEASES,
    NovaRunner,
    factories,
    fakes,
    run_lifecycle,
)

CREATE = HookPoint.CREATE_INSTANCE
BUILD = HookPoint.BUILD_INSTANCE
DELETE = HookPoint.DELETE_INSTANCE
NETWORK = HookPoint.INSTANCE_NETWORK_INFO

# Moderate, so the whole module runs in well under 30 s: garbage is costly
# to draw, mutations of valid input are cheap.
FUZZ_SETTINGS = settings(
    max_examples=200, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much])
GARBAGE_SETTINGS = settings(FUZZ_SETTINGS, max_examples=80)
# Shrinking a call that lets an exception escape takes minutes; the
# examples at the end of the module are the minimal cases.
NO_SHRINK_SETTINGS = settings(
    GARBAGE_SETTINGS, report_multiple_bugs=False,
    phases=[HypothesisPhase.explicit, HypothesisPhase.reuse,
            HypothesisPhase.generate])
QUICK_SETTINGS = settings(FUZZ_SETTINGS, max_examples=60)


# --- the hooks under test ----------------------------------------------------

def read_everything(event: HookEvent) -> str:
    """Read every normalized field, as the heaviest plugin would."""
    data = event.normalize_all()
    json.dumps(data)  # documented as JSON-ready
    # A summary makes the guard scrub it with the call's secrets, as it does
    # for the audit plugin's messages.
    return 'read %d fields' % len(data)


class FuzzHook(NovaHook):
    plugin_name = 'fuzz'

    def handle_pre(self, event: HookEvent) -> Optional[str]:
        return read_everything(event)

    def handle_post(self, event: HookEvent) -> Optional[str]:
        return read_everything(event)


class FuzzCreate(FuzzHook):
    hook_point = CREATE


class FuzzBuild(FuzzHook):
    hook_point = BUILD


class FuzzDelete(FuzzHook):
    hook_point = DELETE


class FuzzNetworkInfo(FuzzHook):
    hook_point = NETWORK


FUZZ: Dict[HookPoint, Type[NovaHook]] = {
    CREATE: FuzzCreate, BUILD: FuzzBuild, DELETE: FuzzDelete,
    NETWORK: FuzzNetworkInfo}
AUDIT: Dict[HookPoint, Type[NovaHook]] = {
    CREATE: audit.AuditCreateInstance, BUILD: audit.AuditBuildInstance,
    DELETE: audit.AuditDeleteInstance,
    NETWORK: audit.AuditInstanceNetworkInfo}


@pytest.fixture(autouse=True)
def fuzz_config(tmp_path: pathlib.Path) -> Iterator[str]:
    """Enable the ``fuzz`` and ``audit`` plugins (after conftest's own
    per-test isolation, which runs first as the outer autouse fixture)."""
    path = tmp_path / 'fuzz.conf'
    path.write_text('[DEFAULT]\nenabled_plugins = fuzz,audit\n'
                    'state_dir = %s\n[audit]\nnetwork_info = true\n'
                    % (tmp_path / 'state'))
    config.reset()
    config.load(str(path))
    yield str(path)
    config.reset()


# --- hostile and odd objects -------------------------------------------------

class Opaque:
    """An object of no kind Nova knows."""


class UnloadableFields:
    """A Nova-object look-alike whose every field read fails (a lazy load
    without a database); ``obj_attr_is_set`` claims every field is set."""

    def obj_attr_is_set(self, name: str) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        raise fakes.LazyLoadAttempted('reading %s would lazy-load' % name)


class AttrIsSetFails:
    """A Nova-object look-alike whose ``obj_attr_is_set`` raises."""

    uuid = 'attr-is-set-fails'
    host = 'compute-1'

    def obj_attr_is_set(self, name: str) -> bool:
        raise RuntimeError('obj_attr_is_set(%r) failed' % name)


class Untruthful:
    """Truth, length and iteration all raise."""

    def __bool__(self) -> bool:
        raise RuntimeError('no truth value')

    def __len__(self) -> int:
        raise RuntimeError('no length')

    def __iter__(self) -> Iterator[Any]:
        raise RuntimeError('not iterable after all')


class Unreadable:
    """Every attribute read raises, ``obj_attr_is_set`` included, like a
    proxy whose backend is gone."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError('cannot read %s' % name)


class UnreadableMapping(Mapping):  # type: ignore[type-arg]
    """A mapping whose every lookup raises."""

    def __getitem__(self, key: Any) -> Any:
        raise RuntimeError('cannot look up %r' % (key,))

    def __iter__(self) -> Iterator[str]:
        return iter(('uuid', 'flavor', 'objects'))

    def __len__(self) -> int:
        return 3


def self_containing() -> List[Any]:
    """A list that contains itself."""
    loop: List[Any] = []
    loop.append(loop)
    return loop


# --- strategies --------------------------------------------------------------

Call = Tuple[Tuple[Any, ...], Dict[str, Any], Any]
Strategy = st.SearchStrategy

MODELS = (models.Instance, models.Flavor, models.BlockDevice, models.Vif,
          models.Subnet, models.IpAddress, models.RequestInfo,
          models.RequestedNetwork)
FIELD_NAMES: Tuple[str, ...] = tuple(sorted(
    {f.name for model in MODELS for f in dataclasses.fields(model)}
    | {'info_cache', 'network', 'meta', 'objects', 'ips', 'floating_ips',
       'gateway', 'dns', 'subnets', 'label', 'tenant_id', 'virtual_name',
       'connection_info', 'request_id', 'nw_info', 'tag'}))
INSTANCE_FIELDS = tuple(f.name for f in dataclasses.fields(models.Instance))
FLAVOR_FIELDS = tuple(f.name for f in dataclasses.fields(models.Flavor))
BDM_FIELDS = tuple(f.name for f in dataclasses.fields(models.BlockDevice)) + (
    'virtual_name', 'connection_info')

# Keyword names that clash with the callers' own parameters (``pre(self,
# ...)``, ``post(self, rv, ...)``, ``NovaRunner.call(self, name, function,
# ...)``): Nova's hooked functions have no such parameters.
RESERVED = frozenset(['self', 'rv', 'name', 'function'])
ALL_PARAMS = tuple(sorted({n for names in SIGNATURES.values() for n in names}
                          - RESERVED | {'security_group'}))

# Parameters whose values normalization or the secret scan reads (beyond
# the shaped ones in Shapes.param); the others only have to be bound.
READ_PARAMS: Dict[HookPoint, FrozenSet[str]] = {
    CREATE: frozenset([
        'image_href', 'display_name', 'display_description', 'key_name',
        'key_data', 'availability_zone', 'min_count', 'max_count',
        'security_groups', 'security_group', 'metadata', 'tags',
        'config_drive', 'admin_password', 'user_data', 'injected_files']),
    BUILD: frozenset(['admin_password', 'injected_files']),
    DELETE: frozenset(),
    NETWORK: frozenset(),
}

# Every parameter whose value is read, shaped ones included.
READ_BY: Dict[HookPoint, Tuple[str, ...]] = {
    hook: tuple(sorted(READ_PARAMS[hook] | {
        'context', 'instance', 'instance_type', 'block_device_mapping',
        'bdms', 'nw_info', 'requested_networks'}.intersection(
            SIGNATURES[hook])))
    for hook in HookPoint}

SPECIAL_VALUES: Tuple[Any, ...] = (
    10 ** 400, -(10 ** 400), 2 ** 63, float('nan'), float('inf'),
    float('-inf'), -0.0, '', ' ', '\x00', 'None', 'null', 'true', 'off',
    ' 42 ', '1e999', '0x10', '[]', '{}', '[{"network": 5}]', '[' * 40,
    b'', b'\xff\xfe', bytearray(b'[]'), '\u00fc\u2603')

scalars: Strategy[Any] = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(),
    st.text(max_size=12), st.binary(max_size=12),
    st.sampled_from(SPECIAL_VALUES))
keys: Strategy[str] = st.one_of(st.sampled_from(FIELD_NAMES),
                                st.text(max_size=6))
json_values: Strategy[Any] = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(),
              st.floats(allow_nan=False, allow_infinity=False),
              st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(keys, inner, max_size=4)),
    max_leaves=10)
json_texts: Strategy[Any] = st.one_of(
    json_values.map(json.dumps),
    json_values.map(lambda v: json.dumps(v)[:-1]),  # cut short
    json_values.map(lambda v: json.dumps(v).encode('utf-8')),
    st.lists(st.builds(factories.vif, address=st.text(max_size=15)),
             max_size=2).map(json.dumps))
odd_objects: Strategy[Any] = st.one_of(
    st.builds(Opaque), st.builds(UnloadableFields), st.builds(AttrIsSetFails),
    st.builds(Untruthful), st.builds(fakes.Instance), st.builds(fakes.Flavor))
# Objects that defeat read_field itself, or the secret scan of a failure.
# (Input that recurses without end, such as self_containing(), is left to
# the examples at the end: each of its huge tracebacks is slow to scrub.)
unreadable_objects: Strategy[Any] = st.one_of(
    st.builds(Unreadable), st.builds(UnreadableMapping))
# Wrong-typed values for one field of otherwise valid arguments: keys of the
# dicts are too short to be a field name that changes their meaning.
mutants: Strategy[Any] = st.one_of(
    scalars, st.lists(scalars, max_size=3),
    st.dictionaries(st.text(string.ascii_lowercase, max_size=6), scalars,
                    max_size=3))


def either(first: Strategy[Any], second: Strategy[Any]) -> Strategy[Any]:
    """``first`` or ``second``, half the time each (``one_of`` would weigh
    every branch of a nested ``one_of`` on its own)."""
    return st.booleans().flatmap(lambda pick: first if pick else second)


def optional_fields(spec: Dict[str, Strategy[Any]]
                    ) -> Strategy[Dict[str, Any]]:
    """Dicts with any subset of ``spec``'s keys."""
    return st.fixed_dictionaries({}, optional=spec)


def fake(cls: Type[fakes.FakeNovaObject],
         spec: Dict[str, Strategy[Any]]) -> Strategy[Any]:
    """A Nova-object stand-in with any subset of ``spec``'s fields set."""
    known = {k: v for k, v in spec.items() if k in cls.fields}
    return optional_fields(known).map(lambda values: cls(**values))


class Shapes:
    """Strategies for every argument of every hook point, with ``leaves``
    ending up in every field."""

    def __init__(self, leaves: Strategy[Any], objects: Strategy[Any]
                 ) -> None:
        # ``objects`` also stand in directly wherever an object belongs.
        self.garbage: Strategy[Any] = st.recursive(
            leaves, self._containers, max_leaves=8)
        # For parameters nothing reads: cheaper to draw, still of any kind.
        self.unread: Strategy[Any] = st.one_of(
            scalars, st.lists(scalars, max_size=2), leaves)
        # Fields inside the shaped values: shallow, so drawing stays cheap.
        g = self.shallow = st.one_of(
            leaves, st.lists(leaves, max_size=3),
            st.dictionaries(keys, leaves, max_size=3))
        deep = either(objects, self.garbage)

        def each(names: Sequence[str]) -> Dict[str, Strategy[Any]]:
            return {name: g for name in names}

        address = optional_fields({'address': g})
        ip = optional_fields({
            'address': g, 'version': g, 'type': g,
            'floating_ips': st.lists(st.one_of(address, g), max_size=2)})
        subnet = optional_fields({
            'cidr': g, 'version': g, 'gateway': st.one_of(address, g),
            'dns': st.lists(st.one_of(address, g), max_size=2),
            'ips': st.lists(st.one_of(ip, g), max_size=2)})
        network = optional_fields({
            'id': g, 'label': g, 'bridge': g,
            'meta': st.one_of(optional_fields(each(('tenant_id', 'mtu'))), g),
            'subnets': st.lists(st.one_of(subnet, g), max_size=2)})
        vif = optional_fields(dict(
            each(('id', 'address', 'type', 'active', 'vnic_type', 'devname')),
            network=st.one_of(network, g)))
        vifs = st.lists(st.one_of(vif, g), max_size=3)
        self.network_info: Strategy[Any] = st.one_of(
            deep, json_texts, vifs, vifs.map(fakes.NetworkInfo),
            vifs.map(fakes.PendingNetworkInfo))
        flavor_fields = each(FLAVOR_FIELDS)
        self.flavor: Strategy[Any] = st.one_of(
            deep, optional_fields(flavor_fields), fake(fakes.Flavor,
                                                    flavor_fields))
        cache_fields = {'network_info': self.network_info}
        tags = st.lists(st.one_of(fake(fakes.Tag, each(('tag',))), g),
                        max_size=2)
        instance_fields = dict(
            each(INSTANCE_FIELDS), flavor=self.flavor,
            info_cache=st.one_of(optional_fields(cache_fields),
                                 fake(fakes.InstanceInfoCache, cache_fields),
                                 g),
            tags=st.one_of(tags, tags.map(lambda t: fakes.TagList(objects=t)),
                           g))
        self.instance: Strategy[Any] = st.one_of(
            deep, optional_fields(instance_fields),
            fake(fakes.Instance, instance_fields))
        bdm = st.one_of(optional_fields(each(BDM_FIELDS)),
                        fake(fakes.BlockDeviceMapping, each(BDM_FIELDS)), g)
        bdms = st.lists(bdm, max_size=3)
        self.bdms: Strategy[Any] = st.one_of(
            deep, bdms,
            bdms.map(lambda b: fakes.BlockDeviceMappingList(objects=b)))
        context_fields = each(('request_id', 'project_id', 'user_id',
                               'auth_token'))
        self.context: Strategy[Any] = st.one_of(
            deep, optional_fields(context_fields),
            st.builds(fakes.RequestContext, g, g, g, g))
        request = st.one_of(
            st.lists(g, max_size=5).map(tuple),
            fake(fakes.NetworkRequest,
                 each(('network_id', 'address', 'port_id', 'tag'))), g)
        requests = st.lists(request, max_size=3)
        self.requested_networks: Strategy[Any] = st.one_of(
            deep, requests,
            requests.map(lambda r: fakes.NetworkRequestList(objects=r)))
        created = st.lists(self.instance, max_size=2)
        self.results: Dict[HookPoint, Strategy[Any]] = {
            CREATE: st.one_of(
                deep, st.tuples(created, g),
                st.tuples(created.map(
                    lambda i: fakes.FakeObjectList(objects=i)), g)),
            BUILD: st.one_of(deep, st.sampled_from(['active', 'failed',
                                                 'rescheduled'])),
            DELETE: deep, NETWORK: deep}

    @staticmethod
    def _containers(inner: Strategy[Any]) -> Strategy[Any]:
        return st.one_of(
            st.lists(inner, max_size=4),
            st.lists(inner, max_size=3).map(tuple),
            st.dictionaries(keys, inner, max_size=5),
            st.dictionaries(st.sampled_from(fakes.Instance.fields), inner,
                            max_size=4).map(lambda v: fakes.Instance(**v)))

    def param(self, hook: HookPoint, name: str) -> Strategy[Any]:
        """Values for parameter ``name`` of the function ``hook`` wraps."""
        shaped = {
            'context': self.context, 'instance': self.instance,
            'instance_type': self.flavor, 'block_device_mapping': self.bdms,
            'bdms': self.bdms, 'nw_info': self.network_info,
            'requested_networks': self.requested_networks,
        }.get(name)
        if shaped is not None:
            return shaped
        if name in READ_PARAMS[hook]:
            return either(self.shallow, self.garbage)
        return self.unread

    def shaped_call(self, hook: HookPoint) -> Strategy[Call]:
        """Arguments in the hook's signature, each of the right name but
        any shape: a prefix positionally, the rest maybe by keyword."""
        names = SIGNATURES[hook]
        # Built once: strategies made inside a draw are slow to shrink.
        values = [self.param(hook, n) for n in names]
        keywords = []
        for npos in range(len(names) + 3):
            rest = {n: self.param(hook, n) for n in names[npos:]
                    if n not in RESERVED}
            if hook is CREATE:
                rest['security_group'] = self.param(hook, 'security_group')
            keywords.append(optional_fields(rest))

        @st.composite
        def draw_call(draw: Callable[[Strategy[Any]], Any]) -> Call:
            npos = draw(st.integers(0, len(names) + 2))
            args = [draw(value) for value in values[:npos]]
            args += [draw(self.garbage) for _ in range(npos - len(names))]
            kwargs = draw(keywords[npos])
            return tuple(args), kwargs, draw(self.results[hook])

        return draw_call()

    def arbitrary_call(self) -> Strategy[Call]:
        """Any number of positional garbage values, garbage keywords."""
        names = st.one_of(st.sampled_from(ALL_PARAMS),
                          st.text(max_size=8).filter(
                              lambda k: k not in RESERVED))
        return st.tuples(st.lists(self.garbage, max_size=12).map(tuple),
                         st.dictionaries(names, self.garbage, max_size=6),
                         self.garbage)


DATA = Shapes(st.one_of(scalars, json_texts, odd_objects), odd_objects)
HOSTILE = Shapes(st.one_of(scalars, odd_objects, unreadable_objects),
                 unreadable_objects)


# --- driving hooks and checking the contract ---------------------------------

COUNTERS = ('calls', 'errors', 'bad_input', 'vetoes')


def counter_name(plugin: str, hook: HookPoint, phase: Phase) -> str:
    return '%s:%s:%s' % (plugin, hook.value, phase.value)


def counts(name: str) -> Dict[str, int]:
    stats = timing.snapshot().get(name, timing.CallStats())
    return {counter: getattr(stats, counter) for counter in COUNTERS}


def counted(before: Dict[str, int], outcome: str) -> Dict[str, int]:
    """``before`` after one more call with ``outcome``."""
    after = dict(before, calls=before['calls'] + 1)
    counter = {'error': 'errors', 'bad_input': 'bad_input',
               'veto': 'vetoes'}.get(outcome)
    if counter:
        after[counter] += 1
    return after


def expected_outcome(hook: HookPoint, phase: Phase, args: Sequence[Any],
                     kwargs: Dict[str, Any], rv: Any) -> str:
    """What the guard must record for a ``fuzz`` handler given this call."""
    event = HookEvent(hook, phase, args, kwargs,
                      rv if phase is Phase.POST else None)
    try:
        read_everything(event)
    except BadInput:
        return 'bad_input'
    except Exception:
        return 'error'
    return 'ok'


def audit_runs(hook: HookPoint, phase: Phase) -> bool:
    """Whether the audit plugin handles this side of this hook."""
    return phase is Phase.POST or hook is CREATE


def call_like_nova(cls: Type[NovaHook], phase: Phase, args: Sequence[Any],
                   kwargs: Dict[str, Any], rv: Any) -> bool:
    """Build the hook and call its ``pre``/``post`` if truthy, as Nova
    does; fail if anything escapes. Returns whether it was called."""
    hook = cls()
    method = hook.pre if phase is Phase.PRE else hook.post
    if not method:
        return False
    try:
        if phase is Phase.PRE:
            method(*args, **kwargs)
        else:
            method(rv, *args, **kwargs)
    except Exception as exc:
        raise AssertionError('%s.%s let %s escape into Nova: %s' % (
            cls.__name__, phase.value, type(exc).__name__, exc)) from exc
    return True


def check_direct(hook: HookPoint, phase: Phase, args: Sequence[Any],
                 kwargs: Dict[str, Any], rv: Any) -> str:
    """Call the fuzz and audit hooks directly, as Nova does (no timing
    listener: the production path); check nothing escapes and every call
    is counted with the right outcome. Returns the outcome."""
    expected = expected_outcome(hook, phase, args, kwargs, rv)
    name = counter_name('fuzz', hook, phase)
    before = counts(name)
    assert call_like_nova(FUZZ[hook], phase, args, kwargs, rv)
    assert counts(name) == counted(before, expected)

    name = counter_name('audit', hook, phase)
    before = counts(name)
    ran = call_like_nova(AUDIT[hook], phase, args, kwargs, rv)
    assert ran == audit_runs(hook, phase)
    assert counts(name)['calls'] == before['calls'] + int(ran)
    return expected


def check_runner(hook: HookPoint, args: Sequence[Any], kwargs: Dict[str, Any],
                 rv: Any) -> Dict[str, Dict[str, str]]:
    """Run the fuzz and audit hooks around a function returning ``rv``
    with Nova's runner; check the contract. Returns each plugin's outcome
    per phase."""
    expected = {phase.value: expected_outcome(hook, phase, args, kwargs, rv)
                for phase in Phase}
    names = {(plugin, phase.value): counter_name(plugin, hook, phase)
             for plugin in ('fuzz', 'audit') for phase in Phase}
    before = {key: counts(name) for key, name in names.items()}
    runner = NovaRunner({hook.value: [FUZZ[hook], AUDIT[hook]]})

    def function(*_args: Any, **_kwargs: Any) -> Any:
        return rv

    try:
        result = runner.call(hook.value, function, *args, **kwargs)
    except Exception as exc:
        raise AssertionError('%s escaped NovaRunner.call: %s' % (
            type(exc).__name__, exc)) from exc
    assert result is rv
    escaped = [r for r in runner.runs
               if r.outcome.startswith('error: ') or r.outcome == 'fatal']
    assert not escaped, 'hooks raised into the runner: %s' % escaped

    outcomes: Dict[str, Dict[str, str]] = {'fuzz': {}, 'audit': {}}
    for run in runner.runs:
        plugin = 'fuzz' if run.target.endswith(
            ':' + FUZZ[hook].__qualname__) else 'audit'
        assert run.phase not in outcomes[plugin]
        outcomes[plugin][run.phase] = run.outcome
    assert outcomes['fuzz'] == expected
    for phase in Phase:
        key = phase.value
        assert counts(names['fuzz', key]) == counted(
            before['fuzz', key], expected[key])
        ran = audit_runs(hook, phase)
        assert (outcomes['audit'][key] != 'skipped') == ran
        assert counts(names['audit', key])['calls'] == (
            before['audit', key]['calls'] + int(ran))
    return outcomes


@contextlib.contextmanager
def lazy_loads() -> Iterator[List[str]]:
    """Record every read of an unset field of the Nova-object stand-ins
    (in Nova, a lazy load from the database)."""
    attempts: List[str] = []
    original = fakes.FakeNovaObject.__getattr__

    def recording(self: fakes.FakeNovaObject, name: str) -> Any:
        if name in type(self).fields:
            attempts.append('%s.%s' % (type(self).__name__, name))
        return original(self, name)

    with mock.patch.object(fakes.FakeNovaObject, '__getattr__', recording):
        yield attempts


HOOKS = list(HookPoint)


def hook_phase_id(value: Any) -> str:
    return value.value


# --- valid input ------------------------------------------------------------

def test_fuzz_and_audit_hooks_are_enabled() -> None:
    assert config.enabled_plugins() == frozenset(['fuzz', 'audit'])
    for hook in HookPoint:
        assert FUZZ[hook]().pre and FUZZ[hook]().post
        assert bool(AUDIT[hook]().pre) == audit_runs(hook, Phase.PRE)
        assert AUDIT[hook]().post


@dataclasses.dataclass
class MutableCall:
    """A hooked call's arguments, open to mutation in place."""

    args: List[Any]
    kwargs: Dict[str, Any]
    rv: Any

    def frozen(self) -> Call:
        return tuple(self.args), self.kwargs, self.rv


def valid_call(hook: HookPoint, release: int,
               unset: Sequence[str] = ()) -> MutableCall:
    """Arguments as Nova ``release`` passes them, from the factories."""
    if hook is CREATE:
        args, kwargs = factories.create_instance_args(release)
        created = factories.instance(release=release, unset=unset)
        return MutableCall(list(args), kwargs, ([created], 'r-00000001'))
    inst = factories.instance(
        state='building', host='compute-1', release=release, unset=unset,
        network=[factories.vif(ipv6='fd00:10::5', floating=['192.0.2.7'])])
    if hook is BUILD:
        bdms = factories.bdm_list(factories.volume_bdm(),
                                  factories.image_bdm())
        args, kwargs = factories.build_instance_args(inst, release, bdms)
        return MutableCall(list(args), kwargs, 'active')
    if hook is DELETE:
        bdms = factories.bdm_list(factories.volume_bdm(boot_index=1))
        args, kwargs = factories.delete_instance_args(inst, release, bdms)
        return MutableCall(list(args), kwargs, None)
    nw_info = factories.network_info(factories.vif(address='10.0.0.9'))
    args, kwargs = factories.instance_network_info_args(inst, nw_info,
                                                        release)
    return MutableCall(list(args), kwargs, None)


# Every field the factory sets may be unloaded, except the UUID: the
# factories (and Nova) read it to build the other arguments.
INSTANCE_SET_FIELDS = tuple(sorted(set(vars(factories.instance())) - {'uuid'}))


@pytest.mark.parametrize('hook', HOOKS, ids=hook_phase_id)
@QUICK_SETTINGS
@given(release=st.sampled_from(RELEASES),
       unset=st.sets(st.sampled_from(INSTANCE_SET_FIELDS), max_size=8))
def test_valid_factory_input_yields_no_errors(
        hook: HookPoint, release: int, unset: Sequence[str]) -> None:
    call = valid_call(hook, release, sorted(unset))
    with lazy_loads() as attempts:
        outcomes = check_runner(hook, *call.frozen())
    assert outcomes['fuzz'] == {'pre': 'ok', 'post': 'ok'}
    assert set(outcomes['audit'].values()) <= {'ok', 'skipped'}
    assert attempts == []


@QUICK_SETTINGS
@given(release=st.sampled_from(RELEASES), count=st.integers(1, 3),
       ipv6=st.booleans(),
       build_result=st.sampled_from(['active', 'failed', 'rescheduled']))
def test_lifecycle_counts_every_call_without_errors(
        release: int, count: int, ipv6: bool, build_result: str) -> None:
    runner = NovaRunner({hook.value: [FUZZ[hook], AUDIT[hook]]
                         for hook in HookPoint})
    before = timing.snapshot()
    with lazy_loads() as attempts:
        run_lifecycle(runner, release=release, count=count, ipv6=ipv6,
                      build_result=build_result)
    after = timing.snapshot()
    per_hook = {CREATE: 1, BUILD: count, DELETE: count, NETWORK: 3 * count}
    expected = {}
    for hook, calls in per_hook.items():
        for phase in Phase:
            expected[counter_name('fuzz', hook, phase)] = calls
            if audit_runs(hook, phase):
                expected[counter_name('audit', hook, phase)] = calls
    changed = {}
    for name, stats in after.items():
        old = before.get(name, timing.CallStats())
        delta = {c: getattr(stats, c) - getattr(old, c) for c in COUNTERS}
        if delta['calls']:
            changed[name] = delta
    assert changed == {name: {'calls': calls, 'errors': 0, 'bad_input': 0,
                              'vetoes': 0}
                       for name, calls in expected.items()}
    assert {r.outcome for r in runner.runs} <= {'ok', 'skipped'}
    assert attempts == []


# --- garbage -----------------------------------------------------------------

@pytest.mark.parametrize('hook', HOOKS, ids=hook_phase_id)
@GARBAGE_SETTINGS
@given(call=DATA.arbitrary_call())
def test_arbitrary_garbage_is_contained_and_counted(hook: HookPoint,
                                                    call: Call) -> None:
    for phase in Phase:
        check_direct(hook, phase, *call)


@pytest.mark.parametrize('hook', HOOKS, ids=hook_phase_id)
@GARBAGE_SETTINGS
@given(data=st.data())
def test_hook_shaped_garbage_through_runner(hook: HookPoint,
                                            data: st.DataObject) -> None:
    check_runner(hook, *data.draw(DATA.shaped_call(hook), label='call'))


@pytest.mark.parametrize('hook', HOOKS, ids=hook_phase_id)
@NO_SHRINK_SETTINGS
@given(data=st.data())
def test_unreadable_objects_are_contained_and_counted(
        hook: HookPoint, data: st.DataObject) -> None:
    args, kwargs, rv = data.draw(st.one_of(HOSTILE.shaped_call(hook),
                                           HOSTILE.arbitrary_call()),
                                 label='call')
    # At least one parameter that is read holds an unreadable object.
    name = data.draw(st.sampled_from(READ_BY[hook]), label='parameter')
    kwargs = dict(kwargs, **{name: data.draw(unreadable_objects, label=name)})
    for phase in Phase:
        check_direct(hook, phase, args, kwargs, rv)


# --- one field of valid input mutated ---------------------------------------

@dataclasses.dataclass(frozen=True)
class Target:
    """One field of a call that a mutation may replace.

    ``tolerant``: the field is read as a scalar, so a malformed value must
    read as unknown (``None``) without failing the handler; otherwise the
    field must hold an object and a wrong kind may be ``BadInput``.
    """

    label: str
    tolerant: bool
    replace: Callable[[Any], None]


OBJECT_ARGS = frozenset(['instance', 'instance_type', 'block_device_mapping',
                         'bdms'])


def item_setter(container: Any, key: Any) -> Callable[[Any], None]:
    def replace(value: Any) -> None:
        container[key] = value
    return replace


def attr_setter(obj: Any, name: str) -> Callable[[Any], None]:
    def replace(value: Any) -> None:
        setattr(obj, name, value)
    return replace


def fields_of(obj: Any) -> List[Tuple[str, Callable[[Any], None]]]:
    """Every set field of a dict or object, with a setter."""
    if isinstance(obj, dict):
        return [(str(k), item_setter(obj, k)) for k in obj]
    return [(k, attr_setter(obj, k)) for k in vars(obj)]


def nested_dict_targets(label: str, value: Any) -> List[Target]:
    """Every key of every dict inside a VIF (read as scalars)."""
    found: List[Target] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append(Target('%s.%s' % (label, key), True,
                                item_setter(value, key)))
            found.extend(nested_dict_targets('%s.%s' % (label, key), item))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(nested_dict_targets('%s[%d]' % (label, index), item))
    return found


def instance_targets(label: str, inst: Any) -> List[Target]:
    found = [Target('%s.%s' % (label, name), name != 'flavor', setter)
             for name, setter in fields_of(inst)]
    flavor = vars(inst).get('flavor')
    if flavor is not None:
        found += [Target('%s.flavor.%s' % (label, name), True, setter)
                  for name, setter in fields_of(flavor)]
    cache = vars(inst).get('info_cache')
    if cache is not None:
        found.append(Target('%s.info_cache.network_info' % label, False,
                            attr_setter(cache, 'network_info')))
        found += nested_dict_targets('%s.info_cache.network_info' % label,
                                     list(cache.network_info))
    return found


def bdm_targets(label: str, bdms: Any) -> List[Target]:
    items = bdms.objects if isinstance(bdms, fakes.FakeObjectList) else bdms
    found = []
    for index, bdm in enumerate(items):
        found.append(Target('%s[%d]' % (label, index), False,
                            item_setter(items, index)))
        found += [Target('%s[%d].%s' % (label, index, name), True, setter)
                  for name, setter in fields_of(bdm)]
    return found


def mutation_targets(hook: HookPoint, call: MutableCall) -> List[Target]:
    names = SIGNATURES[hook]
    found = [Target('arg %s' % names[i], names[i] not in OBJECT_ARGS,
                    item_setter(call.args, i)) for i in range(len(call.args))]
    found += [Target('kwarg %s' % key, key not in OBJECT_ARGS,
                     item_setter(call.kwargs, key)) for key in call.kwargs]
    found.append(Target('result', True,
                        lambda value: setattr(call, 'rv', value)))
    values = dict(zip(names, call.args), **call.kwargs)
    found += [Target('context.%s' % name, True, setter)
              for name, setter in fields_of(values['context'])]
    if hook is CREATE:
        found += [Target('instance_type.%s' % name, True, setter)
                  for name, setter in fields_of(values['instance_type'])]
        found += bdm_targets('block_device_mapping',
                             values['block_device_mapping'])
        found += instance_targets('created', call.rv[0][0])
        requests = values['requested_networks']
        if isinstance(requests, fakes.FakeObjectList):
            for index, request in enumerate(requests.objects):
                found += [Target('requested_networks[%d].%s' % (index, name),
                                 True, setter)
                          for name, setter in fields_of(request)]
        return found
    found += instance_targets('instance', values['instance'])
    if hook is BUILD:
        found += bdm_targets('block_device_mapping',
                             values['block_device_mapping'])
    elif hook is DELETE:
        found += bdm_targets('bdms', values['bdms'])
    else:
        found += nested_dict_targets('nw_info', list(values['nw_info']))
    return found


@st.composite
def mutated_calls(draw: Callable[[Strategy[Any]], Any],
                  hook: HookPoint) -> Tuple[str, bool, Call]:
    call = valid_call(hook, draw(st.sampled_from(RELEASES), label='release'))
    targets = mutation_targets(hook, call)
    target = targets[draw(st.integers(0, len(targets) - 1), label='field')]
    value = draw(mutants, label='value')
    target.replace(value)
    return '%s = %.80r' % (target.label, value), target.tolerant, call.frozen()


@pytest.mark.parametrize('hook', HOOKS, ids=hook_phase_id)
@FUZZ_SETTINGS
@given(data=st.data())
def test_one_mutated_field_reads_as_unknown_or_bad_input(
        hook: HookPoint, data: st.DataObject) -> None:
    label, tolerant, call = data.draw(mutated_calls(hook), label='mutation')
    outcomes = check_runner(hook, *call)
    allowed = {'ok'} if tolerant else {'ok', 'bad_input'}
    assert set(outcomes['fuzz'].values()) <= allowed, label
    assert set(outcomes['audit'].values()) <= allowed | {'skipped'}, label


# --- examples the fuzzing is about, spelled out ----------------------------

def _flavor_dict(**fields: Any) -> Dict[str, Any]:
    return dict(factories.flavor(14), **fields)


WRONG_TYPED = [
    pytest.param(BUILD, lambda: (
        factories.Service('compute-manager'), factories.context(),
        {'uuid': 5, 'host': ['compute-1'],
         'flavor': _flavor_dict(memory_mb='lots')}),
        {'instances': [{'uuid': '5', 'host': None,
                        'flavor': {'memory_mb': None, 'vcpus': 1}}]},
        id='instance-dict-uuid-int-memory-lots'),
    pytest.param(CREATE, lambda: factories.create_instance_args(
        14, flavor_value=_flavor_dict(vcpus=' 2 ', root_gb=b'20',
                                      is_public='maybe'))[0],
        {'flavor': {'vcpus': 2, 'root_gb': None, 'is_public': None,
                    'memory_mb': 2048}},
        id='flavor-dict-wrong-types'),
    pytest.param(CREATE, lambda: factories.create_instance_args(
        14, flavor_value=_flavor_dict(rxtx_factor=10 ** 400))[0],
        {'flavor': {'rxtx_factor': None, 'memory_mb': 2048}},
        id='flavor-rxtx-factor-out-of-float-range'),
    pytest.param(NETWORK, lambda: (
        factories.Service('network-api'), factories.context(),
        factories.instance(), [{'id': 5, 'network': 'private',
                                'active': 'yes'}, 'garbage', None]),
        {'network_info': {'vifs': [{'id': '5', 'active': True,
                                    'network_label': None,
                                    'subnets': []}]}},
        id='network-info-wrong-types'),
]


def subset_matches(expected: Any, actual: Any) -> bool:
    """Whether every key of ``expected`` (recursively) has its value in
    ``actual``; lists must match element-wise."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and subset_matches(v, actual[k])
            for k, v in expected.items())
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(actual) == len(expected)
                and all(map(subset_matches, expected, actual)))
    return bool(expected == actual)


@pytest.mark.parametrize('hook,make_args,expected', WRONG_TYPED)
def test_wrong_typed_fields_are_coerced_or_unknown(
        hook: HookPoint, make_args: Callable[[], Sequence[Any]],
        expected: Dict[str, Any]) -> None:
    args = tuple(make_args())
    outcomes = check_runner(hook, args, {}, None)
    assert outcomes['fuzz'] == {'pre': 'ok', 'post': 'ok'}
    data = HookEvent(hook, Phase.PRE, args, {}).normalize_all()
    assert subset_matches(expected, data), data


@pytest.mark.parametrize('hook', [BUILD, DELETE, NETWORK],
                         ids=hook_phase_id)
@pytest.mark.parametrize('instance', [Unreadable(), UnreadableMapping()],
                         ids=['object', 'mapping'])
@pytest.mark.parametrize('phase', list(Phase), ids=hook_phase_id)
def test_unreadable_instance_is_contained_and_counted(
        hook: HookPoint, instance: Any, phase: Phase) -> None:
    """Every field of an object whose reads all raise is unknown (None):
    the handler runs on an empty instance, nothing escapes, it is
    counted."""
    args = (factories.Service('compute-manager'), factories.context(),
            instance)
    assert check_direct(hook, phase, args, {}, None) == 'ok'
    event = HookEvent(hook, phase, args, {})
    assert event.instance is not None and event.instance.uuid is None


def test_unreadable_block_device_does_not_break_the_secret_scan() -> None:
    inst = factories.instance(host='compute-1')
    bdms = fakes.BlockDeviceMappingList(objects=[Unreadable()])
    args, kwargs = factories.build_instance_args(inst, 21, bdms)
    for phase in Phase:
        check_direct(BUILD, phase, args, kwargs, 'active')


def test_self_containing_secret_does_not_break_the_secret_scan() -> None:
    # The flavor is of no known kind, so the handler fails (BadInput) and
    # the guard scans the call's secrets to scrub the log line.
    args, kwargs = factories.create_instance_args(
        21, flavor_value=5, admin_password=self_containing())
    for phase in Phase:
        assert check_direct(CREATE, phase, args, kwargs, None) == 'bad_input'


@pytest.mark.parametrize('text', ['[' * 3000, '[' * 3000 + ']' * 3000],
                         ids=['unterminated', 'deep'])
def test_deeply_nested_network_info_text_is_bad_input(text: str) -> None:
    inst = factories.instance(host='compute-1')
    inst.info_cache.network_info = text
    args, kwargs = factories.delete_instance_args(inst)
    outcomes = check_runner(DELETE, args, kwargs, None)
    assert outcomes['fuzz'] == {'pre': 'bad_input', 'post': 'bad_input'}


def _four_vifs() -> List[Any]:
    return list(factories.network_info(*(
        factories.vif('10.0.%d.5' % i, ipv6='fd00::%d' % i,
                      floating=['172.24.4.%d' % i], port_id='port-%d' % i)
        for i in range(4))))


def _normalized_or_bad(value: Any) -> Any:
    try:
        return normalize.network_info(value)
    except BadInput:
        return BadInput


@FUZZ_SETTINGS
@given(data=st.data())
def test_network_info_keys_match_only_when_normalization_does(
        data: st.DataObject) -> None:
    """The cheap key may give up (``None``) but never calls two network
    infos equal that normalize differently, whatever field is mutated."""
    original = _four_vifs()
    mutated = _four_vifs()
    targets = nested_dict_targets('nw_info', mutated)
    for _ in range(data.draw(st.integers(1, 3), label='mutations')):
        target = targets[data.draw(st.integers(0, len(targets) - 1),
                                   label='field')]
        value = data.draw(mutants, label='value')
        target.replace(value)
        label = '%s = %.80r' % (target.label, value)
        targets = nested_dict_targets('nw_info', mutated)
    key = normalize.network_info_key(mutated)
    assert normalize.network_info_key(original) is not None
    if key is not None and key == normalize.network_info_key(original):
        assert (_normalized_or_bad(mutated)
                == normalize.network_info(original)), label
    if key is not None:
        hash(key)
        assert key == normalize.network_info_key(copy.deepcopy(mutated))
