"""What a Nova release's hooked functions must agree on with
:mod:`novahooks_core.hooks.binding`: one set of rules for every release.

Used by the objects tier (``release/test_nova_signatures.py``: releases
read from their installed packages) and by
``tests/test_recorded_signatures.py`` (releases read from their git tags
into ``recorded_signatures.json``). Every check returns its
disagreements, ``(hook name, what)``, so a known one can be named exactly.
Python 3.8 or later; imports only the project.
"""

import difflib
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from novahooks_core.hooks.binding import (
    ALIASES,
    NEWEST,
    SIGNATURES,
    bind,
    release_range,
)
from novahooks_core.models import HookPoint
from novahooks_core.testing import factories, fakes

#: Hook name -> the release's parameter names, in order.
Params = Mapping[str, Sequence[str]]
#: ``(hook name, what disagrees)``.
Mismatch = Tuple[str, str]

#: Parameters removed from the end of a signature in some release, which
#: SIGNATURES keeps after the newest release's parameters.
REMOVED_TRAILING: Dict[str, Tuple[str, ...]] = {
    'delete_instance': ('quotas',),
    'instance_network_info': ('update_cells',),
}

#: ``(hook, parameter, first release with it, last release with it)``:
#: the parameters release_range(), the factories and the docs key on.
RELEASE_SPECIFIC: Tuple[Tuple[str, str, int, int], ...] = (
    ('build_instance', 'host_list', 17, NEWEST),
    ('build_instance', 'accel_uuids', 21, NEWEST),
    ('delete_instance', 'quotas', 0, 15),
    ('instance_network_info', 'update_cells', 0, 19),
    ('create_instance', 'security_group', 0, 14),
    ('create_instance', 'security_groups', 15, NEWEST),
    ('create_instance', 'forced_host', 13, NEWEST),
    ('create_instance', 'forced_node', 13, NEWEST),
    ('create_instance', 'tags', 16, NEWEST),
    ('create_instance', 'supports_multiattach', 17, NEWEST),
    ('create_instance', 'trusted_certs', 18, NEWEST),
    ('create_instance', 'supports_port_resource_request', 19, NEWEST),
    ('create_instance', 'requested_host', 20, NEWEST),
    ('create_instance', 'requested_hypervisor_hostname', 20, NEWEST),
)


def expected_places(major: int) -> Dict[str, Tuple[str, str]]:
    """Hook name -> (module, qualname) of its hooked function."""
    return {
        'create_instance': ('nova/compute/api.py', 'API.create'),
        'build_instance': ('nova/compute/manager.py',
                           'ComputeManager._do_build_and_run_instance'),
        'delete_instance': ('nova/compute/manager.py',
                            'ComputeManager._delete_instance'),
        'instance_network_info': (
            'nova/network/neutron.py' if major >= 21
            else 'nova/network/base_api.py',
            'update_instance_cache_with_nw_info'),
    }


def place_mismatches(major: int,
                     places: Mapping[str, Tuple[str, str]]
                     ) -> List[Mismatch]:
    """The release hooks exactly our hook points, where we say."""
    expected = expected_places(major)
    return [(name, 'hooked at %s, expected %s'
             % (places.get(name), expected.get(name)))
            for name in sorted(set(expected) | set(places))
            if places.get(name) != expected.get(name)]


def release_specific_mismatches(major: int,
                                params: Params) -> List[Mismatch]:
    """Each release-specific parameter exactly in its releases."""
    found = []
    for name, param, first, last in RELEASE_SPECIFIC:
        expected = first <= major <= last
        if (param in params[name]) != expected:
            found.append((name, '%s %s (expected in %d-%d)' % (
                param, 'missing' if expected else 'present',
                max(first, 12), last)))
    return found


def signature_mismatches(major: int, params: Params) -> List[Mismatch]:
    """SIGNATURES[point] lists the release's parameters (renamed ones
    under today's name) in the release's order, later releases' trailing
    parameters after them; for the newest release, exactly them and the
    removed ones."""
    found = []
    for point in HookPoint:
        release = tuple(ALIASES.get(p, p) for p in params[point.value])
        ours = SIGNATURES[point]
        matcher = difflib.SequenceMatcher(a=release, b=ours, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == 'equal' or (tag == 'insert' and i1 == len(release)):
                continue  # the same, or later releases' trailing ones
            if tag == 'insert':
                what = ('SIGNATURES has %s at position %d, which the '
                        'release lacks' % (ours[j1:j2], j1))
            elif tag == 'delete':
                what = ('the release has %s at position %d, which '
                        'SIGNATURES lacks' % (release[i1:i2], i1))
            else:
                what = ('position %d: the release has %s, SIGNATURES %s'
                        % (i1, release[i1:i2], ours[j1:j2]))
            found.append((point.value, what))
        if major == NEWEST and ours != release + REMOVED_TRAILING.get(
                point.value, ()):
            found.append((point.value, 'SIGNATURES is not the newest '
                          "release's parameters and the removed ones"))
    return found


class Value:
    """An argument value standing for one parameter. Not a Mapping: the
    flavor (``instance_type``) Nova 12 and later pass is an
    ``objects.Flavor`` (``nova/compute/flavors.py`` returns
    ``objects.Flavor.get_by_flavor_id`` / ``get_by_name``), and no
    other argument release_range() looks at is a Mapping."""

    __slots__ = ('name',)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return '<%s>' % self.name


def _fits(major: int, point: HookPoint, args: Sequence[Any],
          kwargs: Mapping[str, Any]) -> Optional[Tuple[int, int]]:
    """None if release_range() of this call includes ``major``, else the
    range it gives."""
    low, high = release_range(point, bind(point, args, kwargs))
    return None if low <= major <= high else (low, high)


def binding_mismatches(major: int, params: Params) -> List[Mismatch]:
    """A call passing every parameter positionally, and one passing every
    parameter by keyword: bind() names each argument by its parameter
    (renamed ones by today's name), a name SIGNATURES knows, and
    release_range() includes the release."""
    found = []
    for point in HookPoint:
        names = list(params[point.value])
        values = [Value(name) for name in names]
        call = bind(point, values, {})
        by_value = {id(value): key for key, value in call.values.items()}
        misnamed = ['%s as %s' % (value.name, by_value.get(id(value)))
                    for value in values
                    if by_value.get(id(value)) != ALIASES.get(value.name,
                                                               value.name)]
        if misnamed:
            found.append((point.value, 'positional call binds %s'
                          % ', '.join(misnamed)))
        keywords = {name: Value(name) for name in names}
        unknown = sorted(set(bind(point, (), keywords).values)
                         - set(SIGNATURES[point]))
        if unknown:
            found.append((point.value, 'keyword call binds names '
                          'SIGNATURES lacks: %s' % ', '.join(unknown)))
        for shape, args, kwargs in (('positional', values, {}),
                                    ('keyword', (), keywords)):
            wrong = _fits(major, point, args, kwargs)
            if wrong:
                found.append((point.value, '%s call gets nova_releases '
                              '%s' % (shape, wrong)))
    return found


def call_mismatches(major: int, hooked: Mapping[str, Any],
                    calls: Mapping[str, Sequence[Any]]) -> List[Mismatch]:
    """release_range() includes the release for each of Nova's own calls
    of a hooked function (their written shape: ``**kwargs`` adds
    nothing, which is also a call Nova makes; a call with ``*args`` is
    skipped). ``hooked``: hook name -> object with ``qualname``;
    ``calls``: hook name -> objects with ``path``, ``line``,
    ``positional``, ``keywords``, ``starred``."""
    found = []
    for name, sites in sorted(calls.items()):
        point = HookPoint(name)
        implicit_self = '.' in hooked[name].qualname
        for call in sites:
            if call.starred:
                continue
            args = [Value('self')] * implicit_self + [
                Value('arg') for _ in range(call.positional)]
            wrong = _fits(major, point, args,
                          {key: Value(key) for key in call.keywords})
            if wrong:
                found.append((name, '%s:%d (%d positional, keywords %s) '
                              'gets nova_releases %s' % (
                                  call.path, call.line, call.positional,
                                  ', '.join(call.keywords) or 'none',
                                  wrong)))
    return found


def factory_mismatches(major: int, params: Params) -> List[Mismatch]:
    """The test kit's factory calls for this release fit the release's
    parameters: no more positional arguments than parameters, keywords
    among the parameters not passed positionally, and build and delete
    passed entirely positionally (as Nova does)."""
    inst = factories.instance(state='active', host='compute-1',
                              release=major)
    calls = [
        ('create_instance', factories.create_instance_args(major)),
        ('build_instance', factories.build_instance_args(inst, major)),
        ('delete_instance', factories.delete_instance_args(inst, major)),
        ('instance_network_info', factories.instance_network_info_args(
            inst, factories.network_info(factories.vif()), major)),
        ('instance_network_info', factories.instance_network_info_args(
            inst, fakes.NetworkInfo(), major, positional=True)),
        ('instance_network_info', factories.instance_network_info_args(
            inst, release=major)),
    ]
    found = []
    for name, (args, kwargs) in calls:
        names = tuple(params[name])
        if len(args) > len(names):
            found.append((name, 'factory passes %d positional arguments '
                          'for %d parameters' % (len(args), len(names))))
        unknown = sorted(set(kwargs) - set(names[len(args):]))
        if unknown:
            found.append((name, 'factory passes keywords the release '
                          'lacks (or has positionally): %s'
                          % ', '.join(unknown)))
        if name in ('build_instance', 'delete_instance') and (
                len(args) != len(names)):
            found.append((name, 'factory passes %d positional arguments, '
                          'Nova %d' % (len(args), len(names))))
    return found
