"""Turn whatever Nova hands over (releases 12 to 21, and the payloads of
22 and later) into models.

Every reader here tolerates ``nova.objects`` instances (whose unset fields
must not be touched: reading one triggers a lazy load), plain dicts, Nova's
network-model dicts and JSON text. A missing or malformed field becomes
``None``; a value of an altogether wrong kind where an object is required
raises :class:`BadInput`, which the hook base logs and counts.

By content: :mod:`.fields` (reading fields, schemas), :mod:`.scalars`,
:mod:`.network` (network info and its cheap key), :mod:`.block_devices`,
:mod:`.instance` (and flavors), :mod:`.request` (the create request and
the request context).
"""

from novahooks_core.normalize.block_devices import block_device, block_devices
from novahooks_core.normalize.fields import (
    BadInput,
    object_list,
    read_field,
    read_fields,
)
from novahooks_core.normalize.instance import flavor, instance
from novahooks_core.normalize.network import (
    info_cache_network_info,
    is_pending_async,
    network_info,
    network_info_key,
    nova_network_info,
    raw_info_cache_network_info,
)
from novahooks_core.normalize.request import (
    create_request,
    request_info,
    requested_networks,
)
from novahooks_core.normalize.scalars import (
    as_address,
    as_bool,
    as_float,
    as_int,
    as_str,
    as_str_map,
    as_str_tuple,
)

__all__ = [
    'BadInput', 'as_address', 'as_bool', 'as_float', 'as_int', 'as_str',
    'as_str_map', 'as_str_tuple', 'block_device', 'block_devices',
    'create_request', 'flavor', 'info_cache_network_info', 'instance',
    'is_pending_async', 'network_info', 'network_info_key',
    'nova_network_info', 'object_list', 'raw_info_cache_network_info',
    'read_field', 'read_fields', 'request_info', 'requested_networks',
]
