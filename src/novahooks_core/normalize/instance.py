"""Instances and flavors: ``nova.objects`` or the dicts of older
releases."""

from typing import Any, Optional

from novahooks_core import models
from novahooks_core.normalize.fields import (
    BadInput,
    convert,
    object_list,
    require_object,
    schema,
)
from novahooks_core.normalize.network import info_cache_network_info
from novahooks_core.normalize.scalars import (
    as_bool,
    as_float,
    as_int,
    as_str,
    as_str_map,
    as_str_tuple,
)

FLAVOR = schema(
    id=as_int, name=as_str, flavorid=as_str, memory_mb=as_int, vcpus=as_int,
    root_gb=as_int, ephemeral_gb=as_int, swap=as_int, rxtx_factor=as_float,
    vcpu_weight=as_int, disabled=as_bool, is_public=as_bool,
    extra_specs=as_str_map, description=as_str)


def flavor(value: Any) -> Optional[models.Flavor]:
    """A :class:`Flavor` from a ``nova.objects.Flavor`` or a Liberty dict."""
    if value is None:
        return None
    require_object(value, 'flavor')
    return models.Flavor(**convert(value, FLAVOR))



def _raw(value: Any) -> Any:
    return value


INSTANCE = schema(
    uuid=as_str, id=as_int, hostname=as_str, display_name=as_str,
    project_id=as_str, user_id=as_str, host=as_str, node=as_str,
    availability_zone=as_str, vm_state=as_str, task_state=as_str,
    power_state=as_int, image_ref=as_str, key_name=as_str,
    reservation_id=as_str, launched_at=as_str, terminated_at=as_str,
    deleted=as_bool, metadata=as_str_map, tags=_raw, flavor=_raw)


def instance(value: Any,
             network: Optional[models.NetworkInfo] = None
             ) -> Optional[models.Instance]:
    """An :class:`Instance` from a Nova ``Instance`` object or dict.

    ``network`` overrides what the instance's ``info_cache`` says.
    """
    if value is None:
        return None
    require_object(value, 'instance')
    if network is None:
        try:
            network = info_cache_network_info(value)
        except BadInput:
            network = None
    fields = convert(value, INSTANCE)
    tags = fields.pop('tags')
    return models.Instance(
        tags=as_str_tuple(object_list(tags)),
        flavor=flavor(fields.pop('flavor')),
        network_info=network, **fields)

