"""Nova 12 to 14, not on the package index, against ``binding``: their
hooked functions and Nova's own calls of them, recorded from their git
tags in ``nova_tier/objects/recorded_signatures.json`` by
``tools/nova-hooked-signatures.py`` (which re-verifies them against any
nova clone: ``--git-dir <clone> --verify``), checked by the rules the
objects tier applies to 15 to 21 from their packages
(``nova_tier/objects/hook_rules.py``). No Nova package needed.
"""

import json
import pathlib
import re
import types
from typing import Any, Dict, List, Set, Tuple

import pytest

from nova_tier.objects import hook_rules
from nova_tier.objects.nova_tier_releases import RELEASES as PACKAGED
from novahooks_core.hooks.binding import NEWEST, OLDEST

RECORD = (pathlib.Path(__file__).resolve().parents[1] / 'nova_tier'
          / 'objects' / 'recorded_signatures.json')
RECORDED: Dict[str, Dict[str, Any]] = json.loads(
    RECORD.read_text())['releases']
SHA = re.compile(r'^[0-9a-f]{40}$')
#: The git blob of the ``nova/hooks.py`` the objects tier runs for 15 to
#: 21 (byte-identical in each: test_nova_hooks.py pins its sha256).
TIER_HOOKS_PY = 'bb85f38ee994be00b0132600348afe05f220d78f'
#: Nova 12's: the same but for the deprecation warning 13 added.
HOOKS_PY_12 = '35bc3af29d491ffc37e61bb51c302ce3a41c9a90'
POINTS = ['build_instance', 'create_instance', 'delete_instance',
          'instance_network_info']

#: Where binding disagrees with Nova 12 to 14 today, asserted as it is in
#: test_known_limit_create_on_nova_12_to_14 (each must still be found):
#: - Nova 13 inserted ``forced_host, forced_node`` after
#:   ``availability_zone`` (12's ``API.create`` lacks them), so binding
#:   names Nova 12's create arguments after position 13 wrongly when they
#:   are passed positionally (Nova's own callers pass 3: context, flavor,
#:   image).
#: (release_range() gave a create call of 12 to 14 without the
#: ``security_group`` keyword (15, 21); it now tells 15 and later only by
#: their ``security_groups`` keyword.)
KNOWN: Dict[str, Set[Tuple[str, str, str]]] = {
    '12.0.6': {
        ('signatures', 'create_instance',
         "SIGNATURES has ('forced_host', 'forced_node') at position 14, "
         'which the release lacks'),
        ('binding', 'create_instance',
         'positional call binds user_data as forced_host, metadata as '
         'forced_node, injected_files as user_data, admin_password as '
         'metadata, block_device_mapping as injected_files, access_ip_v4 '
         'as admin_password, access_ip_v6 as block_device_mapping, '
         'requested_networks as access_ip_v4, config_drive as '
         'access_ip_v6, auto_disk_config as requested_networks, '
         'scheduler_hints as config_drive, legacy_bdm as auto_disk_config,'
         ' shutdown_terminate as scheduler_hints, check_server_group_quota'
         ' as legacy_bdm'),
    },
}


def _major(release: str) -> int:
    return int(release.split('.')[0])


def _params(release: str) -> Dict[str, List[str]]:
    return {name: functions[0]['params'] for name, functions
            in RECORDED[release]['hooked'].items()}


def found(release: str) -> Set[Tuple[str, str, str]]:
    """Every disagreement of every rule, ``(rule, hook, what)``."""
    major, params = _major(release), _params(release)
    entry = RECORDED[release]
    hooked = {name: types.SimpleNamespace(**functions[0])
              for name, functions in entry['hooked'].items()}
    calls = {name: [types.SimpleNamespace(**call) for call in sites]
             for name, sites in entry['calls'].items()}
    rules = {
        'places': hook_rules.place_mismatches(major, {
            name: (h.path, h.qualname) for name, h in hooked.items()}),
        'signatures': hook_rules.signature_mismatches(major, params),
        'release-specific': hook_rules.release_specific_mismatches(
            major, params),
        'binding': hook_rules.binding_mismatches(major, params),
        'calls': hook_rules.call_mismatches(major, hooked, calls),
        'factories': hook_rules.factory_mismatches(major, params),
    }
    return {(rule,) + mismatch for rule, mismatches in rules.items()
            for mismatch in mismatches}


def test_every_claimed_release_is_checked() -> None:
    """Each release the README claims (OLDEST to NEWEST) is checked: from
    its package in the objects tier, or from its recorded tag here."""
    majors = sorted({_major(r) for r in PACKAGED} | {
        _major(r) for r in RECORDED})
    assert majors == list(range(OLDEST, NEWEST + 1))
    assert not {_major(r) for r in PACKAGED} & {_major(r) for r in RECORDED}


@pytest.mark.parametrize('release', sorted(RECORDED))
def test_record_names_its_source(release: str) -> None:
    """Tag, commit, ``nova/`` tree, and the git blob of every file a
    function or call was read from (and of ``nova/hooks.py``): one hooked
    function per hook point, called somewhere."""
    entry = RECORDED[release]
    source = entry['source']
    assert source['tag'] == release
    assert all(SHA.match(source[key])
               for key in ('tag_object', 'commit', 'nova_tree'))
    assert sorted(entry['hooked']) == POINTS
    assert sorted(entry['calls']) == POINTS
    assert all(len(functions) == 1
               for functions in entry['hooked'].values())
    read = {function['path'] for functions in entry['hooked'].values()
            for function in functions} | {
        call['path'] for sites in entry['calls'].values()
        for call in sites} | {'nova/hooks.py'}
    assert sorted(entry['files']) == sorted(read)
    assert all(SHA.match(blob) for blob in entry['files'].values())


def test_hooks_module_is_the_tiers_from_13() -> None:
    """Nova's runner (``nova/hooks.py``) of 13 and 14 is the one the tier
    runs our hooks in; 12's differs only by 13's deprecation warning."""
    assert {release: entry['files']['nova/hooks.py']
            for release, entry in RECORDED.items()} == {
        '12.0.6': HOOKS_PY_12, '13.1.4': TIER_HOOKS_PY,
        '14.1.0': TIER_HOOKS_PY}


@pytest.mark.parametrize('release', sorted(RECORDED))
def test_binding_agrees_with_the_recorded_release(release: str) -> None:
    """Places, SIGNATURES order, release-specific parameters, bind() and
    release_range() on every parameter and on Nova's own calls, the
    factories' calls: no disagreement but the known ones."""
    assert sorted(found(release) - KNOWN.get(release, set())) == []


@pytest.mark.parametrize('release', sorted(KNOWN))
def test_known_limit_create_on_nova_12_to_14(release: str) -> None:
    """The known disagreements (KNOWN), as they are today. Fixing one in
    binding.py makes this fail: then remove its entry."""
    assert sorted(KNOWN[release] - found(release)) == []
