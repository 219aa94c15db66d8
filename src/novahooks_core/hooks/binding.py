"""Name a hooked call's arguments, and tell which Nova releases it fits.

Binding follows the signatures of every Nova release that had hooks (12 to
21): positional arguments are named by the hooked function's parameter
order, keywords by name, and renamed parameters are mapped to today's name.
"""

from typing import Any, Dict, Mapping, Sequence, Tuple

from novahooks_core.models import HookPoint

# Parameter order of each hooked function, ``self`` first. Later releases
# appended parameters (``host_list`` 17, ``accel_uuids`` 21) or removed
# trailing ones (``quotas`` after 15, ``update_cells`` after 19), with two
# exceptions in ``create``: 13 inserted ``forced_host`` and ``forced_node``
# after ``availability_zone`` (so Nova 12's arguments past it are named
# right only when passed by keyword, as Nova's own callers pass them), and
# 15 renamed ``security_group`` (ALIASES). nova_tier/objects checks this
# against every release's source (12 to 14 from their git tags).
SIGNATURES: Dict[HookPoint, Tuple[str, ...]] = {
    HookPoint.CREATE_INSTANCE: (
        'self', 'context', 'instance_type', 'image_href', 'kernel_id',
        'ramdisk_id', 'min_count', 'max_count', 'display_name',
        'display_description', 'key_name', 'key_data', 'security_groups',
        'availability_zone', 'forced_host', 'forced_node', 'user_data',
        'metadata', 'injected_files', 'admin_password',
        'block_device_mapping', 'access_ip_v4', 'access_ip_v6',
        'requested_networks', 'config_drive', 'auto_disk_config',
        'scheduler_hints', 'legacy_bdm', 'shutdown_terminate',
        'check_server_group_quota', 'tags', 'supports_multiattach',
        'trusted_certs', 'supports_port_resource_request', 'requested_host',
        'requested_hypervisor_hostname'),
    HookPoint.BUILD_INSTANCE: (
        'self', 'context', 'instance', 'image', 'request_spec',
        'filter_properties', 'admin_password', 'injected_files',
        'requested_networks', 'security_groups', 'block_device_mapping',
        'node', 'limits', 'host_list', 'accel_uuids'),
    HookPoint.DELETE_INSTANCE: ('self', 'context', 'instance', 'bdms',
                                'quotas'),
    HookPoint.INSTANCE_NETWORK_INFO: ('impl', 'context', 'instance',
                                      'nw_info', 'update_cells'),
}

# Names older releases used for the same parameter.
ALIASES: Dict[str, str] = {'security_group': 'security_groups'}

# Create keywords that first appeared in a given release.
_CREATE_KWARG_SINCE = (('requested_hypervisor_hostname', 20),
                       ('requested_host', 20),
                       ('supports_port_resource_request', 19),
                       ('trusted_certs', 18),
                       ('supports_multiattach', 17), ('tags', 16))

#: The first and the last Nova release with ``nova/hooks.py``.
OLDEST, NEWEST = 12, 21

#: One release of each argument shape in between (13 is 12's shape, 18
#: is 17's): the releases the test kit builds calls for.
SHAPES = (12, 14, 15, 16, 17, 19, 20, 21)


class BoundCall:
    """A hooked call's arguments by parameter name (raw; never logged).

    A plain class with slots: one is made per hooked call."""

    __slots__ = ('values', 'positional', 'keywords')

    def __init__(self, values: Mapping[str, Any], positional: int,
                 keywords: Tuple[str, ...]) -> None:
        self.values = values
        self.positional = positional
        self.keywords = keywords

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, BoundCall)
                and (self.values, self.positional, self.keywords)
                == (other.values, other.positional, other.keywords))

    def __repr__(self) -> str:  # names only: the values hold secrets
        return 'BoundCall(%s)' % ', '.join(sorted(self.values))


def bind(hook: HookPoint, args: Sequence[Any],
         kwargs: Mapping[str, Any]) -> BoundCall:
    """Name every argument of a hooked call."""
    names = SIGNATURES[hook]
    values: Dict[str, Any] = dict(zip(names, args))
    for index in range(len(names), len(args)):
        values['arg%d' % index] = args[index]
    for key, value in kwargs.items():
        values[ALIASES.get(key, key)] = value
    return BoundCall(values, len(args), tuple(kwargs))


def release_range(hook: HookPoint, call: BoundCall) -> Tuple[int, int]:
    """The Nova releases whose signature and argument types fit this call."""
    low, high = OLDEST, NEWEST
    if hook is HookPoint.CREATE_INSTANCE:
        if 'security_group' in call.keywords or isinstance(
                call.get('instance_type'), Mapping):
            high = 14
        elif 'security_groups' in call.keywords:
            low = 15
        for name, since in _CREATE_KWARG_SINCE:
            if name in call.keywords:
                low = max(low, since)
                break
    elif hook is HookPoint.BUILD_INSTANCE:
        if 'accel_uuids' in call.values:
            low = 21
        elif 'host_list' in call.values:
            low, high = 17, 20
        elif call.positional >= 11:
            high = 16
    elif hook is HookPoint.DELETE_INSTANCE:
        if 'quotas' in call.values:
            high = 15
        else:
            low = 16
    elif hook is HookPoint.INSTANCE_NETWORK_INFO:
        if 'update_cells' in call.values:
            high = 19
    return (low, high)
