"""Our factories and fakes against a real Nova release's classes.

For each fake: its field names are Nova's, the values the factories set
are accepted by Nova's field types (the real object is built from them),
and the fake and the real object normalize to equal models. Known drift
is listed in KNOWN_DRIFT and checked by strict xfail tests, so a fix shows
up as an XPASS failure until the entry is removed.
"""

import datetime
import inspect
import json
import types
from typing import Any, Dict, List, Tuple, cast
import warnings

import nova_shapes as shapes
import pytest

from novahooks_core import models, normalize
from novahooks_core.hooks.event import HookEvent
from novahooks_core.models import HookPoint, Phase
from novahooks_core.testing import factories, fakes

OBJECT_FAKES = ('Flavor', 'Instance', 'InstanceInfoCache', 'Tag', 'TagList',
                'BlockDeviceMapping', 'BlockDeviceMappingList',
                'NetworkRequest', 'NetworkRequestList')

#: (what, name) -> (majors affected, why). ``what`` is ``fields:<Fake>``
#: for a field name the fake has and Nova has not, ``value:<factory>`` for
#: a value a factory sets that Nova's field type refuses,
#: ``protocol:<Fake>`` for access methods the fake has and Nova's class has
#: not, ``behaviour:<what>`` for the same access behaving differently.
KNOWN_DRIFT: Dict[Tuple[str, str], Tuple[Tuple[int, ...], str]] = {}


def _known(what: str, name: str, major: int) -> bool:
    entry = KNOWN_DRIFT.get((what, name))
    return entry is not None and major in entry[0]


def _mark_if_known(request: pytest.FixtureRequest, what: str, name: str,
                   major: int) -> None:
    if _known(what, name, major):
        request.applymarker(pytest.mark.xfail(
            strict=True, reason=KNOWN_DRIFT[(what, name)][1]))


def to_real(nova: types.SimpleNamespace, value: Any) -> Any:
    """The Nova object (or network model) of a fake, built from the
    fields the fake has set."""
    if isinstance(value, fakes.NetworkInfo):
        return nova.network_model.NetworkInfo.hydrate(json.dumps(value))
    if isinstance(value, fakes.FakeNovaObject):
        real, errors = build_real(nova, value)
        if errors:
            raise ValueError('%s: %s' % (type(value).__name__, errors))
        return real
    if isinstance(value, list):
        return [to_real(nova, item) for item in value]
    return value


def build_real(nova: types.SimpleNamespace, fake: fakes.FakeNovaObject,
               skip: Tuple[str, ...] = ()) -> Tuple[Any, Dict[str, str]]:
    """Nova's object of the fake's class with each set field assigned;
    the fields Nova refused, with why. Invalid UUIDs (which Nova only
    warns about) count as refused."""
    real = getattr(nova.objects, type(fake).__name__)()
    errors: Dict[str, str] = {}
    for name, value in vars(fake).items():
        if name in skip:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('error', FutureWarning)
                setattr(real, name, to_real(nova, value))
        except Exception as exc:
            errors[name] = '%s: %s' % (type(exc).__name__, exc)
    return real, errors


def _skip_known(factory: str, major: int) -> Tuple[str, ...]:
    return tuple(name for (what, name) in KNOWN_DRIFT
                 if what == 'value:' + factory and _known(what, name, major))


# Field names


@pytest.mark.parametrize('name', OBJECT_FAKES)
def test_fake_fields_are_nova_fields(nova: types.SimpleNamespace,
                                     request: pytest.FixtureRequest,
                                     name: str) -> None:
    fake_fields = set(getattr(fakes, name).fields)
    real_fields = set(getattr(nova.objects, name).fields)
    extra = fake_fields - real_fields
    assert {f for f in extra
            if not _known('fields:' + name, f, nova.major)} == set()
    for field in sorted(extra):
        _mark_if_known(request, 'fields:' + name, field, nova.major)
    assert extra == set()


def test_known_field_drift_is_only_what_is_listed(
        nova: types.SimpleNamespace) -> None:
    """The fields KNOWN_DRIFT excuses are the only extra ones."""
    extra = {('fields:' + name, field) for name in OBJECT_FAKES
             for field in set(getattr(fakes, name).fields)
             - set(getattr(nova.objects, name).fields)}
    known = {key for key in KNOWN_DRIFT if key[0].startswith('fields:')
             and _known(key[0], key[1], nova.major)}
    assert extra == known


PROTOCOL = ('get', '__getitem__', '__contains__', '__iter__', '__len__')


@pytest.mark.parametrize('name', OBJECT_FAKES)
def test_fakes_offer_no_access_nova_lacks(nova: types.SimpleNamespace,
                                          request: pytest.FixtureRequest,
                                          name: str) -> None:
    """A test passing on a fake must not rely on access Nova lacks."""
    fake = {m for m in PROTOCOL if hasattr(getattr(fakes, name), m)}
    real = {m for m in PROTOCOL if hasattr(getattr(nova.objects, name), m)}
    extra = ','.join(sorted(fake - real))
    if extra:
        assert ('protocol:' + name, extra) in KNOWN_DRIFT
        _mark_if_known(request, 'protocol:' + name, extra, nova.major)
    assert extra == ''


def test_known_protocol_drift_is_only_what_is_listed(
        nova: types.SimpleNamespace) -> None:
    found = set()
    for name in OBJECT_FAKES:
        fake = {m for m in PROTOCOL if hasattr(getattr(fakes, name), m)}
        real = {m for m in PROTOCOL
                if hasattr(getattr(nova.objects, name), m)}
        if fake - real:
            found.add(('protocol:' + name, ','.join(sorted(fake - real))))
    assert found == {key for key in KNOWN_DRIFT
                     if key[0].startswith('protocol:')
                     and _known(key[0], key[1], nova.major)}


UNSET = (('Instance', 'host'), ('Flavor', 'projects'),
         ('BlockDeviceMapping', 'instance'))


@pytest.mark.parametrize('name,field', UNSET)
def test_nova_get_without_default_lazy_loads(nova: types.SimpleNamespace,
                                             load_guard: Any, name: str,
                                             field: str) -> None:
    real = getattr(nova.objects, name)()
    assert real.get(field, 'default') == 'default'
    assert load_guard.loads == []
    with pytest.raises(load_guard.error):
        real.get(field)
    assert load_guard.loads == [(name, field)]
    load_guard.loads.clear()


@pytest.mark.parametrize('name,field', UNSET)
def test_fake_get_without_default_is_like_nova(
        nova: types.SimpleNamespace, request: pytest.FixtureRequest,
        name: str, field: str) -> None:
    _mark_if_known(request, 'behaviour:get-unset', name, nova.major)
    fake = getattr(fakes, name)()
    assert fake.get(field, 'default') == 'default'
    with pytest.raises(fakes.LazyLoadAttempted):
        fake.get(field)


def test_fake_lists_index_like_novas(nova: types.SimpleNamespace,
                                     request: pytest.FixtureRequest) -> None:
    fake = factories.bdm_list(factories.image_bdm(), factories.volume_bdm())
    real = to_real(nova, fake)
    assert len(real) == len(fake) == 2
    assert [b.source_type for b in real] == [b.source_type for b in fake]
    assert real[1].source_type == 'volume'
    _mark_if_known(request, 'behaviour:index', 'lists', nova.major)
    assert cast(Any, fake)[1].source_type == 'volume'


def test_fake_context_reads_like_novas(nova: types.SimpleNamespace) -> None:
    fake = factories.context()
    real = nova.context.RequestContext(
        user_id=fake.user_id, project_id=fake.project_id,
        request_id=fake.request_id, auth_token=fake.auth_token,
        is_admin=fake.is_admin)
    assert [n for n in vars(fake) if not hasattr(real, n)] == []
    assert normalize.request_info(fake) == normalize.request_info(real)


def test_fake_pending_network_info_reads_like_novas(
        nova: types.SimpleNamespace) -> None:
    vifs = [factories.vif(ipv6='fd00:10::5')]
    fake = fakes.PendingNetworkInfo(vifs)
    real = nova.network_model.NetworkInfoAsyncWrapper(
        nova.network_model.NetworkInfo.hydrate, json.dumps(vifs))
    assert normalize.network_info(fake) is None
    assert normalize.network_info(real) is None
    fake.wait()
    real.wait()
    assert normalize.network_info(fake) == normalize.network_info(real)
    assert normalize.network_info(real) is not None


def test_factory_set_fields_exist_in_this_release(
        nova: types.SimpleNamespace) -> None:
    """What a factory sets for release N is a field of Nova N."""
    built = {
        'Flavor': factories.flavor(nova.major),
        'Instance': factories.instance(release=nova.major),
        'BlockDeviceMapping': factories.volume_bdm(),
        'BlockDeviceMapping:image': factories.image_bdm(),
    }
    missing = {key: sorted(set(vars(fake)) - set(getattr(
        nova.objects, key.split(':')[0]).fields))
        for key, fake in built.items()}
    assert missing == {key: [] for key in built}


# Values


def _factories() -> List[Tuple[str, Any]]:
    return [
        ('flavor', lambda major: factories.flavor(major)),
        ('flavor_overridden', lambda major: factories.flavor(
            major, name='m1.xlarge', extra_specs={}, disabled=True)),
        ('volume_bdm', lambda major: factories.volume_bdm(
            delete_on_termination=True, size=40)),
        ('image_bdm', lambda major: factories.image_bdm()),
        ('instance', lambda major: factories.instance(release=major)),
        ('instance_active', lambda major: factories.instance(
            state='active', host='compute-1', release=major,
            network=[factories.vif(ipv6='fd00:10::5',
                                   floating=['203.0.113.5'])])),
        ('instance_unset', lambda major: factories.instance(
            release=major, unset=('host', 'node', 'flavor', 'info_cache',
                                  'tags', 'launched_at'))),
    ]


FACTORIES = dict(_factories())


def _kind(factory: str) -> str:
    return 'instance' if factory.startswith('instance') else factory


@pytest.mark.parametrize('factory', sorted(FACTORIES))
def test_factory_values_are_accepted_by_nova(nova: types.SimpleNamespace,
                                             factory: str) -> None:
    fake = FACTORIES[factory](nova.major)
    _, errors = build_real(nova, fake,
                           skip=_skip_known(_kind(factory), nova.major))
    assert errors == {}


@pytest.mark.parametrize('factory', sorted(FACTORIES))
def test_fake_and_real_normalize_equally(nova: types.SimpleNamespace,
                                         load_guard: Any,
                                         factory: str) -> None:
    fake = FACTORIES[factory](nova.major)
    real, errors = build_real(nova, fake,
                              skip=_skip_known(_kind(factory), nova.major))
    assert errors == {}
    result: Any
    if isinstance(fake, fakes.Flavor):
        result = normalize.flavor(fake)
        assert normalize.flavor(real) == result
    elif isinstance(fake, fakes.BlockDeviceMapping):
        result = normalize.block_device(fake)
        assert normalize.block_device(real) == result
        assert normalize.block_devices(to_real(
            nova, factories.bdm_list(fake))) == normalize.block_devices(
            factories.bdm_list(fake))
    else:
        result = normalize.instance(fake)
        assert normalize.instance(real) == result
    shapes.assert_no_secrets(result)


def test_naive_datetimes_normalize_like_nova(
        nova: types.SimpleNamespace) -> None:
    naive = datetime.datetime(2020, 5, 1, 12, 0, 0)
    fake = factories.instance(release=nova.major, launched_at=naive,
                              terminated_at=naive)
    real, _ = build_real(nova, fake, skip=('id',))
    assert real.launched_at.tzinfo is not None
    assert normalize.instance(fake) == normalize.instance(real)


def test_tags_and_requested_networks(nova: types.SimpleNamespace) -> None:
    tags = fakes.TagList(objects=[fakes.Tag(resource_id=shapes.INSTANCE_UUID,
                                            tag=t) for t in ('a', 'b')])
    assert normalize.as_str_tuple(to_real(nova, tags).objects) == ('a', 'b')
    requests = fakes.NetworkRequestList(objects=[
        fakes.NetworkRequest(network_id='net-private', address=None,
                             port_id=None, tag=None),
        fakes.NetworkRequest(network_id=None, address=None,
                             port_id=shapes.PORT, tag='mgmt')])
    real = to_real(nova, requests)
    assert type(real) is nova.objects.NetworkRequestList
    assert normalize.requested_networks(real) == (
        normalize.requested_networks(requests))


# Network info


@pytest.mark.parametrize('vifs', [
    lambda: [factories.vif()],
    lambda: [factories.vif(ipv6='fd00:10::5', floating=['203.0.113.5']),
             factories.vif(address='10.0.1.7', network_label='db',
                           vif_type='hw_veb', active=False,
                           floating=['203.0.113.6', '203.0.113.7'])],
    lambda: [],
], ids=['one', 'two', 'none'])
def test_factory_vifs_hydrate_unchanged(nova: types.SimpleNamespace,
                                        vifs: Any) -> None:
    given = vifs()
    hydrated = nova.network_model.NetworkInfo.hydrate(json.dumps(given))
    assert all(type(v) is nova.network_model.VIF for v in hydrated)
    # Nova adds no key and drops none: the factory has Nova's shape.
    assert json.loads(hydrated.json()) == given
    fake = normalize.network_info(factories.network_info(*given))
    assert fake is not None
    assert normalize.network_info(hydrated) == fake
    assert [ip.address for ip in fake.fixed_ips] == [
        ip['address'] for ip in hydrated.fixed_ips()]
    assert list(fake.floating_ips) == [
        ip['address'] for ip in hydrated.floating_ips()]


# Hooked calls built by the factories


def _hooked(nova: types.SimpleNamespace) -> Dict[HookPoint, Any]:
    manager = nova.compute_manager.ComputeManager
    return {
        HookPoint.CREATE_INSTANCE: nova.compute_api.API.create,
        HookPoint.BUILD_INSTANCE: manager._do_build_and_run_instance,
        HookPoint.DELETE_INSTANCE: manager._delete_instance,
        HookPoint.INSTANCE_NETWORK_INFO:
            nova.network_api.update_instance_cache_with_nw_info,
    }


def _factory_calls(major: int) -> List[Tuple[HookPoint, str, Any]]:
    inst = factories.instance(state='active', host='compute-1',
                              release=major)
    nw = factories.network_info(factories.vif())
    return [
        (HookPoint.CREATE_INSTANCE, 'create',
         factories.create_instance_args(major)),
        (HookPoint.BUILD_INSTANCE, 'build',
         factories.build_instance_args(inst, major)),
        (HookPoint.DELETE_INSTANCE, 'delete',
         factories.delete_instance_args(inst, major)),
        (HookPoint.INSTANCE_NETWORK_INFO, 'allocate',
         factories.instance_network_info_args(inst, nw, major)),
        (HookPoint.INSTANCE_NETWORK_INFO, 'deallocate',
         factories.instance_network_info_args(
             inst, fakes.NetworkInfo(), major, positional=True)),
        (HookPoint.INSTANCE_NETWORK_INFO, 'heal',
         factories.instance_network_info_args(inst, release=major)),
    ]


def test_factory_calls_fit_the_real_signatures(
        nova: types.SimpleNamespace) -> None:
    hooked = _hooked(nova)
    for hook, what, (args, kwargs) in _factory_calls(nova.major):
        signature = inspect.signature(hooked[hook])
        signature.bind(*args, **kwargs)  # raises TypeError if not
        if hook in (HookPoint.BUILD_INSTANCE, HookPoint.DELETE_INSTANCE):
            # Nova passes every parameter positionally.
            assert (what, len(args), kwargs) == (
                what, len(signature.parameters), {})
        if hook is HookPoint.CREATE_INSTANCE:
            assert len(args) == 4  # self, context, instance_type, image


def test_factory_calls_claim_this_release(
        nova: types.SimpleNamespace) -> None:
    """The release range read from a factory call contains the release."""
    for hook, what, (args, kwargs) in _factory_calls(nova.major):
        low, high = HookEvent(hook, Phase.PRE, args,
                              kwargs).nova_releases
        assert (what, low <= nova.major <= high) == (what, True), (
            what, low, high)


def test_create_args_normalize_like_real_objects(
        nova: types.SimpleNamespace) -> None:
    args, kwargs = factories.create_instance_args(nova.major)
    real_args = (args[0], shapes.context(nova), to_real(nova, args[2]),
                 args[3])
    real_kwargs = dict(kwargs, requested_networks=to_real(
        nova, kwargs['requested_networks']))
    fake_event = HookEvent(HookPoint.CREATE_INSTANCE, Phase.PRE, args,
                           kwargs)
    real_event = HookEvent(HookPoint.CREATE_INSTANCE, Phase.PRE,
                           real_args, real_kwargs)
    assert real_event.create_request == fake_event.create_request
    assert real_event.flavor == fake_event.flavor
    assert real_event.nova_releases == fake_event.nova_releases
    assert isinstance(real_event.create_request, models.CreateRequest)
