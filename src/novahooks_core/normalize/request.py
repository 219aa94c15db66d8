"""What a user asked for: ``API.create``'s arguments (secrets only
counted, never copied), the requested networks and the request context."""

from typing import Any, Mapping, Tuple

from novahooks_core import models
from novahooks_core.normalize.block_devices import block_devices
from novahooks_core.normalize.fields import (
    SCALARS,
    items,
    object_list,
    read_field,
)
from novahooks_core.normalize.scalars import (
    as_address,
    as_bool,
    as_int,
    as_str,
    as_str_map,
    as_str_tuple,
)


def requested_networks(value: Any) -> Tuple[models.RequestedNetwork, ...]:
    """Entries of a ``NetworkRequestList`` or a pre-object list of tuples
    ``(network_id, address, port_id[, pci_request_id])``."""
    value = object_list(value)
    result = []
    for item in items(value):
        if isinstance(item, (list, tuple)):
            padded = list(item) + [None] * 3
            result.append(models.RequestedNetwork(
                network_id=as_str(padded[0]), address=as_address(padded[1]),
                port_id=as_str(padded[2])))
        elif item is not None and not isinstance(item, SCALARS):
            result.append(models.RequestedNetwork(
                network_id=as_str(read_field(item, 'network_id')),
                port_id=as_str(read_field(item, 'port_id')),
                address=as_address(read_field(item, 'address')),
                tag=as_str(read_field(item, 'tag'))))
    return tuple(result)


def _size(value: Any) -> int:
    if isinstance(value, (str, bytes, bytearray)):
        return len(value)
    return 0


def create_request(args: Mapping[str, Any]) -> models.CreateRequest:
    """A :class:`CreateRequest` from ``API.create``'s bound arguments.

    Secrets are read only to tell whether they were given, never copied.
    """
    injected = args.get('injected_files')
    return models.CreateRequest(
        image_ref=as_str(args.get('image_href')),
        display_name=as_str(args.get('display_name')),
        display_description=as_str(args.get('display_description')),
        key_name=as_str(args.get('key_name')),
        availability_zone=as_str(args.get('availability_zone')),
        min_count=as_int(args.get('min_count')),
        max_count=as_int(args.get('max_count')),
        security_groups=as_str_tuple(args.get('security_groups')),
        metadata=as_str_map(args.get('metadata')),
        tags=as_str_tuple(args.get('tags')),
        requested_networks=requested_networks(args.get('requested_networks')),
        block_devices=block_devices(args.get('block_device_mapping')),
        config_drive=as_bool(args.get('config_drive')),
        has_admin_password=bool(args.get('admin_password')),
        has_key_data=bool(args.get('key_data')),
        user_data_bytes=_size(args.get('user_data')),
        injected_files_count=(len(injected)
                              if isinstance(injected, (list, tuple)) else 0),
    )


def request_info(context: Any) -> models.RequestInfo:
    """Request id, project and user of a ``RequestContext`` (or dict)."""
    if context is None or isinstance(context, SCALARS):
        return models.RequestInfo()
    return models.RequestInfo(
        request_id=as_str(read_field(context, 'request_id')),
        project_id=as_str(read_field(context, 'project_id')),
        user_id=as_str(read_field(context, 'user_id')))
