"""Argument binding by name and the release shapes it recognises."""

from typing import Any, Dict, Tuple

import pytest

from novahooks_core.hooks.binding import bind, release_range
from novahooks_core.hooks.event import HookEvent
from novahooks_core.models import HookPoint, Phase
from novahooks_core.testing import RELEASES, factories, fakes

CREATE = HookPoint.CREATE_INSTANCE
BUILD = HookPoint.BUILD_INSTANCE
DELETE = HookPoint.DELETE_INSTANCE
NETWORK = HookPoint.INSTANCE_NETWORK_INFO


def _fits(hook: HookPoint, args: Tuple[Any, ...], kwargs: Dict[str, Any],
          release: int) -> bool:
    low, high = release_range(hook, bind(hook, args, kwargs))
    return low <= release <= high


@pytest.mark.parametrize('release', RELEASES)
def test_every_release_shape_is_recognised(release: int) -> None:
    inst = factories.instance(release=release)
    assert _fits(CREATE, *factories.create_instance_args(release), release)
    assert _fits(BUILD, *factories.build_instance_args(inst, release),
                 release)
    assert _fits(DELETE, *factories.delete_instance_args(inst, release),
                 release)
    assert _fits(NETWORK, *factories.instance_network_info_args(
        inst, fakes.NetworkInfo(), release), release)


def test_release_ranges_are_narrow_where_the_shape_says_so() -> None:
    inst = factories.instance()
    assert release_range(CREATE, bind(
        CREATE, *factories.create_instance_args(14))) == (12, 14)
    assert release_range(CREATE, bind(
        CREATE, *factories.create_instance_args(18))) == (18, 21)
    assert release_range(BUILD, bind(
        BUILD, *factories.build_instance_args(inst, 21))) == (21, 21)
    assert release_range(BUILD, bind(
        BUILD, *factories.build_instance_args(inst, 19))) == (17, 20)
    assert release_range(BUILD, bind(
        BUILD, *factories.build_instance_args(inst, 16))) == (12, 16)
    assert release_range(DELETE, bind(
        DELETE, *factories.delete_instance_args(inst, 15))) == (12, 15)
    assert release_range(NETWORK, bind(
        NETWORK, *factories.instance_network_info_args(
            inst, release=19))) == (12, 19)


def test_positional_and_keyword_bind_to_the_same_names() -> None:
    inst = factories.instance()
    net = factories.network_info(factories.vif())
    by_kw = bind(NETWORK, *factories.instance_network_info_args(inst, net))
    by_pos = bind(NETWORK, *factories.instance_network_info_args(
        inst, net, positional=True))
    assert by_kw.get('nw_info') is net and by_pos.get('nw_info') is net
    assert by_kw.get('instance') is inst is by_pos.get('instance')


def test_security_group_alias_and_unknown_extras() -> None:
    call = bind(CREATE, ('api', 'ctx', {}, 'img'),
                {'security_group': ['web'], 'brand_new_kwarg': 1})
    assert call.get('security_groups') == ['web']
    assert call.get('brand_new_kwarg') == 1
    extra = bind(DELETE, ('m', 'ctx', 'inst', 'bdms', 'quotas', 'more'), {})
    assert extra.get('arg5') == 'more'


def test_short_calls_bind_what_is_there() -> None:
    event = HookEvent(BUILD, Phase.PRE, (), {})
    assert event.instance is None and event.block_devices == ()
    assert event.network_info is None and event.instance_uuid is None


def test_network_info_in_post_comes_from_the_info_cache() -> None:
    net = factories.network_info(factories.vif('10.1.1.1'))
    inst = factories.instance(network=net)
    args, kwargs = factories.instance_network_info_args(inst)  # heal
    pre = HookEvent(NETWORK, Phase.PRE, args, kwargs)
    post = HookEvent(NETWORK, Phase.POST, args, kwargs)
    assert pre.network_info is None  # unknown before Nova looked it up
    assert post.network_info is not None
    assert post.network_info.fixed_ips[0].address == '10.1.1.1'
    assert post.instance is not None
    assert post.instance.network_info == post.network_info


def test_given_nw_info_wins_and_non_lists_are_treated_as_none() -> None:
    inst = factories.instance(network=factories.network_info(
        factories.vif('10.1.1.1')))
    given = factories.network_info(factories.vif('10.2.2.2'))
    args, kwargs = factories.instance_network_info_args(inst, given)
    event = HookEvent(NETWORK, Phase.PRE, args, kwargs)
    assert event.network_info is not None
    assert event.network_info.fixed_ips[0].address == '10.2.2.2'
    args, kwargs = factories.instance_network_info_args(inst, {'bogus': 1})
    post = HookEvent(NETWORK, Phase.POST, args, kwargs)
    assert post.network_info is not None  # Nova ignores it: cache is truth
    assert post.network_info.fixed_ips[0].address == '10.1.1.1'


def test_create_post_returns_instances_and_reservation() -> None:
    args, kwargs = factories.create_instance_args(min_count=2, max_count=2)
    created = [factories.instance(), factories.instance()]
    event = HookEvent(CREATE, Phase.POST, args, kwargs,
                       (created, 'r-12345678'))
    assert [i.uuid for i in event.instances] == [c.uuid for c in created]
    assert event.reservation_id == 'r-12345678'
    assert event.instance is None and event.instance_uuid is None
    assert event.flavor is not None and event.flavor.name == 'm1.small'
    assert event.create_request is not None
    assert event.create_request.max_count == 2
    assert event.request.project_id == 'project-a'


def test_build_and_delete_events() -> None:
    bdms = factories.bdm_list(factories.volume_bdm(volume_id='v1'))
    inst = factories.instance(host='cmp1')
    args, kwargs = factories.build_instance_args(inst, bdms=bdms)
    event = HookEvent(BUILD, Phase.POST, args, kwargs, 'active')
    assert event.result == 'active' and event.instance_uuid == inst.uuid
    assert [b.volume_id for b in event.block_devices] == ['v1']
    assert event.create_request is None and event.reservation_id is None
    args, kwargs = factories.delete_instance_args(inst, 15, bdms)
    event = HookEvent(DELETE, Phase.PRE, args, kwargs)
    assert event.block_devices[0].volume_id == 'v1'
    assert event.flavor is not None and event.result is None


def test_event_repr_and_normalize_all_hold_no_secrets() -> None:
    args, kwargs = factories.create_instance_args()
    event = HookEvent(CREATE, Phase.PRE, args, kwargs)
    text = repr(event) + repr(event.normalize_all())
    for secret in factories.SECRETS.values():
        assert secret not in text
    assert event.normalize_all()['create_request']['has_admin_password']
