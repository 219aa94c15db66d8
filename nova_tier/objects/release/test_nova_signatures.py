"""Hooked functions of a real Nova release against ``binding``
(``SIGNATURES``, ``bind``, ``release_range``) and the factories' argument
shapes.

The functions and Nova's own calls of them are found in the release's
source (every ``add_hook`` decorator under ``nova/``), so this runs for
releases whose modules do not import on this Python (15 to 18); for
19-21 ``inspect.signature`` of the imported function must agree with the
source. The rules are ``hook_rules``'s, the same that
``tests/test_recorded_signatures.py`` applies to the releases recorded
from their git tags (12 to 14).
"""

import inspect
import types
from typing import Dict, Tuple

import hook_rules
from nova_source import Hooked, hooked_by_point, source_extract
import pytest

from novahooks_core.models import HookPoint


@pytest.fixture(scope='module')
def hooked(release: str) -> Dict[HookPoint, Hooked]:
    return hooked_by_point()


@pytest.fixture(scope='module')
def params(hooked: Dict[HookPoint, Hooked]) -> Dict[str, Tuple[str, ...]]:
    return {point.value: h.params for point, h in hooked.items()}


def test_hooked_functions_are_where_we_say(
        hooked: Dict[HookPoint, Hooked], major: int) -> None:
    assert hook_rules.place_mismatches(major, {
        p.value: (h.path, h.qualname) for p, h in hooked.items()}) == []


@pytest.mark.parametrize('point', list(HookPoint), ids=lambda p: p.value)
def test_signatures_list_the_parameters_in_order(
        params: Dict[str, Tuple[str, ...]], major: int,
        point: HookPoint) -> None:
    assert [m for m in hook_rules.signature_mismatches(major, params)
            if m[0] == point.value] == []


def test_release_specific_parameters(params: Dict[str, Tuple[str, ...]],
                                     major: int) -> None:
    """The parameters release_range(), the factories and the docs key
    on, each exactly in its releases."""
    assert hook_rules.release_specific_mismatches(major, params) == []


def test_binding_names_every_parameter(params: Dict[str, Tuple[str, ...]],
                                       major: int) -> None:
    """Every parameter passed positionally, then by keyword: bound under
    its own name, and release_range() includes this release."""
    assert hook_rules.binding_mismatches(major, params) == []


def test_release_range_fits_novas_own_calls(major: int) -> None:
    """Each call of a hooked function in this release's code, as written,
    gets a release_range() that includes this release."""
    found = source_extract()
    assert sorted(found.calls) == sorted(p.value for p in HookPoint)
    hooked = {name: functions[0] for name, functions in found.hooked.items()}
    assert hook_rules.call_mismatches(major, hooked, found.calls) == []


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
        params: Dict[str, Tuple[str, ...]], major: int) -> None:
    """Positional counts and keyword names of every factory call, for
    this release, against the release's own parameter lists."""
    assert hook_rules.factory_mismatches(major, params) == []
