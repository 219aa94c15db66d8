"""Block-device mappings: ``BlockDeviceMapping`` objects, v2 dicts (the
internal and the API form) and legacy v1 dicts, translated as Nova does."""

from typing import Any, Mapping, Optional, Tuple

from novahooks_core import models
from novahooks_core.normalize.fields import (
    MAPPING,
    BadInput,
    convert,
    object_list,
    read_field,
    require_object,
    schema,
)
from novahooks_core.normalize.scalars import as_bool, as_int, as_str

_LEGACY_BDM_KEYS = ('virtual_name', 'volume_id', 'snapshot_id', 'no_device')
_SOURCE_IDS = ('volume_id', 'snapshot_id', 'image_id')

BLOCK_DEVICE = schema(
    source_type=as_str, destination_type=as_str, boot_index=as_int,
    device_name=as_str, device_type=as_str, disk_bus=as_str,
    guest_format=as_str, delete_on_termination=as_bool, volume_id=as_str,
    snapshot_id=as_str, image_id=as_str, volume_size=as_int,
    volume_type=as_str, attachment_id=as_str, uuid=as_str, tag=as_str,
    no_device=as_bool)


def block_device(value: Any) -> models.BlockDevice:
    """A :class:`BlockDevice` from a BDM object, a v2 dict (internal or API
    form with ``uuid``) or a legacy (v1) dict."""
    require_object(value, 'block device mapping')
    source = as_str(read_field(value, 'source_type'))
    if (source is None and isinstance(value, MAPPING)
            and any(k in value for k in _LEGACY_BDM_KEYS)):
        return _legacy_block_device(value)
    fields = convert(value, BLOCK_DEVICE)
    api_uuid = fields['uuid']
    if isinstance(value, MAPPING) and source and api_uuid:
        # The API form names the source by ``uuid``; the object's ``uuid``
        # (17+) is the mapping's own id and comes with ``*_id`` fields.
        key = source + '_id'
        if key in _SOURCE_IDS and fields[key] is None:
            fields[key], fields['uuid'] = api_uuid, None
    return models.BlockDevice(**fields)


def _legacy_block_device(value: Mapping[str, Any]) -> models.BlockDevice:
    """Translate a v1 mapping the way Nova's ``BlockDeviceDict.from_legacy``
    does: volume or snapshot backed volumes, ephemeral and swap disks."""
    virtual_name = as_str(value.get('virtual_name')) or ''
    volume_id = as_str(value.get('volume_id'))
    snapshot_id = as_str(value.get('snapshot_id'))
    source: Optional[str]
    if snapshot_id:
        source, destination = 'snapshot', 'volume'
    elif volume_id:
        source, destination = 'volume', 'volume'
    elif virtual_name.startswith('ephemeral') or virtual_name == 'swap':
        source, destination = 'blank', 'local'
    else:
        source, destination = None, None
    return models.BlockDevice(
        source_type=source,
        destination_type=destination,
        device_name=as_str(value.get('device_name')),
        guest_format='swap' if virtual_name == 'swap' else None,
        delete_on_termination=as_bool(value.get('delete_on_termination')),
        volume_id=volume_id,
        snapshot_id=snapshot_id,
        volume_size=as_int(value.get('volume_size')),
        no_device=as_bool(value.get('no_device')))


def block_devices(value: Any) -> Tuple[models.BlockDevice, ...]:
    """Every mapping of a ``BlockDeviceMappingList`` or a list of dicts."""
    if value is None:
        return ()
    value = object_list(value)
    if not isinstance(value, (list, tuple)):
        raise BadInput('block devices are a %s, expected a list'
                       % type(value).__name__)
    return tuple(block_device(v) for v in value if v is not None)

