"""Hooked functions of a real Nova release against ``binding.SIGNATURES``
and the factories' argument shapes.

The functions are found in the release's source (every ``add_hook``
decorator under ``nova/``), so this runs for releases whose modules do not
import on this Python (15, 17); for 19-21 ``inspect.signature`` of the
imported function must agree with the source.
"""

import inspect
import types
from typing import Dict

from nova_source import Hooked, hooked_by_point
import pytest

from novahooks_core.binding import NEWEST, SIGNATURES
from novahooks_core.models import HookPoint
from novahooks_core.testing import factories, fakes

# Parameters removed from the end of a signature in some release, which
# SIGNATURES keeps after the newest release's parameters.
REMOVED_TRAILING = {HookPoint.DELETE_INSTANCE: ('quotas',),
                    HookPoint.INSTANCE_NETWORK_INFO: ('update_cells',)}


@pytest.fixture(scope='module')
def hooked(release: str) -> Dict[HookPoint, Hooked]:
    return hooked_by_point()


EXPECTED_PLACES = {
    HookPoint.CREATE_INSTANCE: ('nova/compute/api.py', 'API.create'),
    HookPoint.BUILD_INSTANCE: ('nova/compute/manager.py',
                               'ComputeManager._do_build_and_run_instance'),
    HookPoint.DELETE_INSTANCE: ('nova/compute/manager.py',
                                'ComputeManager._delete_instance'),
}


def test_hooked_functions_are_where_we_say(
        hooked: Dict[HookPoint, Hooked], major: int) -> None:
    places = dict(EXPECTED_PLACES)
    places[HookPoint.INSTANCE_NETWORK_INFO] = (
        'nova/network/neutron.py' if major >= 21
        else 'nova/network/base_api.py',
        'update_instance_cache_with_nw_info')
    assert {p: (h.path, h.qualname) for p, h in hooked.items()} == places


@pytest.mark.parametrize('point', list(HookPoint), ids=lambda p: p.value)
def test_signatures_list_the_parameters_in_order(
        hooked: Dict[HookPoint, Hooked], major: int,
        point: HookPoint) -> None:
    params = hooked[point].params
    ours = SIGNATURES[point]
    assert ours[:len(params)] == params
    if major == NEWEST:
        assert ours == params + REMOVED_TRAILING.get(point, ())


def test_release_specific_parameters(hooked: Dict[HookPoint, Hooked],
                                     major: int) -> None:
    """The parameters DESIGN.md and release_range() key on."""
    build = hooked[HookPoint.BUILD_INSTANCE].params
    assert ('host_list' in build) == (major >= 17)
    assert ('accel_uuids' in build) == (major >= 21)
    assert ('quotas' in hooked[HookPoint.DELETE_INSTANCE].params) == (
        major <= 15)
    assert ('update_cells' in hooked[
        HookPoint.INSTANCE_NETWORK_INFO].params) == (major <= 19)
    create = hooked[HookPoint.CREATE_INSTANCE].params
    for name, since in (('tags', 16), ('supports_multiattach', 17),
                        ('trusted_certs', 18),
                        ('supports_port_resource_request', 19),
                        ('requested_host', 20),
                        ('requested_hypervisor_hostname', 20)):
        assert (name, name in create) == (name, major >= since)


def test_runtime_signatures_match_the_source(
        nova: types.SimpleNamespace, hooked: Dict[HookPoint, Hooked]) -> None:
    """``inspect.signature`` follows ``add_hook``'s ``functools.wraps``
    (and Nova's other decorators) to the same parameters."""
    manager = nova.compute_manager.ComputeManager
    functions = {
        HookPoint.CREATE_INSTANCE: nova.compute_api.API.create,
        HookPoint.BUILD_INSTANCE: manager._do_build_and_run_instance,
        HookPoint.DELETE_INSTANCE: manager._delete_instance,
        HookPoint.INSTANCE_NETWORK_INFO:
            nova.network_api.update_instance_cache_with_nw_info,
    }
    for point, function in functions.items():
        assert function.__hook_name__ == point.value
        assert tuple(inspect.signature(function).parameters) == (
            hooked[point].params)


def test_factory_arguments_fit_the_source_signatures(
        hooked: Dict[HookPoint, Hooked], major: int) -> None:
    """Positional counts and keyword names of every factory call, for
    this release, against the release's own parameter lists."""
    inst = factories.instance(state='active', host='compute-1',
                              release=major)
    calls = [
        (HookPoint.CREATE_INSTANCE, factories.create_instance_args(major)),
        (HookPoint.BUILD_INSTANCE, factories.build_instance_args(
            inst, major)),
        (HookPoint.DELETE_INSTANCE, factories.delete_instance_args(
            inst, major)),
        (HookPoint.INSTANCE_NETWORK_INFO,
         factories.instance_network_info_args(
             inst, factories.network_info(factories.vif()), major)),
        (HookPoint.INSTANCE_NETWORK_INFO,
         factories.instance_network_info_args(
             inst, fakes.NetworkInfo(), major, positional=True)),
        (HookPoint.INSTANCE_NETWORK_INFO,
         factories.instance_network_info_args(inst, release=major)),
    ]
    for point, (args, kwargs) in calls:
        params = hooked[point].params
        assert len(args) <= len(params), point
        positional = set(params[:len(args)])
        assert set(kwargs) <= set(params) - positional, (point, kwargs)
        if point in (HookPoint.BUILD_INSTANCE, HookPoint.DELETE_INSTANCE):
            assert (point, len(args)) == (point, len(params))
