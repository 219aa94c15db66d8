"""Stand-ins with the behaviour of ``nova.objects`` that hooks depend on.

Attribute and item access, ``obj_attr_is_set``, and an error when an unset
field is read: in Nova that read would lazy-load from the database, which a
hook must never cause. Only for machines without Nova; the real-Nova test
tier checks these against Nova's own classes.
"""

from typing import Any, ClassVar, Iterator, List, Tuple

from oslo_utils import strutils

#: Fields Nova declares as ``SensitiveStringField``: its ``repr`` shows
#: them through oslo's ``mask_password``.
SENSITIVE_FIELDS = ('connection_info',)


def _stringify(name: str, value: Any) -> str:
    """A field's value as oslo.versionedobjects' ``repr`` shows it."""
    if isinstance(value, str):
        return "'%s'" % (strutils.mask_password(value)
                         if name in SENSITIVE_FIELDS else value)
    if isinstance(value, FakeNovaObject):
        ident = value.__dict__.get('uuid', value.__dict__.get('id'))
        return '%s%s' % (type(value).__name__,
                         '' if ident is None else '(%s)' % ident)
    if isinstance(value, list):
        return '[%s]' % ','.join(_stringify(name, item) for item in value)
    return str(value)


class LazyLoadAttempted(NotImplementedError):
    """An unset field was read; in Nova this would hit the database."""


class FakeNovaObject:
    """Base of the stand-ins: ``fields`` lists what may be set."""

    fields: ClassVar[Tuple[str, ...]] = ()

    def __init__(self, **values: Any) -> None:
        for name, value in values.items():
            setattr(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in type(self).fields:
            raise AttributeError('%s has no field %s'
                                 % (type(self).__name__, name))
        self.__dict__[name] = value

    def __getattr__(self, name: str) -> Any:
        # Only reached for names not set on the instance.
        if name in type(self).fields:
            raise LazyLoadAttempted('%s.%s is not set; reading it would '
                                    'lazy-load' % (type(self).__name__, name))
        raise AttributeError(name)

    def obj_attr_is_set(self, name: str) -> bool:
        return name in self.__dict__

    def obj_reset(self, name: str) -> None:
        """Unset a field, as if Nova had not loaded it."""
        self.__dict__.pop(name, None)

    def __repr__(self) -> str:
        """As Nova's objects show themselves: every field, set or not
        (``<?>``), its secrets as they are but ``connection_info``'s
        password-like values."""
        return '%s(%s)' % (type(self).__name__, ','.join(
            '%s=%s' % (name, _stringify(name, self.__dict__[name])
                       if name in self.__dict__ else '<?>')
            for name in sorted(type(self).fields)))


_UNSET = object()


class DictCompat(FakeNovaObject):
    """Like ``NovaObjectDictCompat`` (Instance, Flavor, BlockDeviceMapping
    only): item access and ``get``, which lazy-loads an unset field when
    no default is given."""

    def __getitem__(self, name: str) -> Any:
        return getattr(self, name)

    def get(self, name: str, default: Any = _UNSET) -> Any:
        if name not in type(self).fields:
            raise AttributeError(name)
        if default is not _UNSET and not self.obj_attr_is_set(name):
            return default
        return getattr(self, name)

    def __contains__(self, name: str) -> bool:
        return self.obj_attr_is_set(name)


class FakeObjectList(FakeNovaObject):
    """Like ``nova.objects.base.ObjectListBase``."""

    fields = ('objects',)

    def __getitem__(self, index: int) -> Any:
        return self.objects[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.objects)

    def __len__(self) -> int:
        return len(self.objects)


class Flavor(DictCompat):
    fields = ('id', 'name', 'memory_mb', 'vcpus', 'root_gb', 'ephemeral_gb',
              'flavorid', 'swap', 'rxtx_factor', 'vcpu_weight', 'disabled',
              'is_public', 'extra_specs', 'projects', 'description',
              'created_at', 'updated_at', 'deleted_at', 'deleted')


class InstanceInfoCache(FakeNovaObject):
    fields = ('instance_uuid', 'network_info', 'created_at', 'updated_at',
              'deleted_at', 'deleted')


class Tag(FakeNovaObject):
    fields = ('resource_id', 'tag')


class TagList(FakeObjectList):
    pass


class Instance(DictCompat):
    fields = ('id', 'uuid', 'user_id', 'project_id', 'image_ref',
              'kernel_id', 'ramdisk_id', 'hostname', 'launch_index',
              'key_name', 'key_data', 'power_state', 'vm_state',
              'task_state', 'memory_mb', 'vcpus', 'root_gb', 'ephemeral_gb',
              'host', 'node', 'instance_type_id', 'user_data',
              'reservation_id', 'launched_at', 'terminated_at',
              'availability_zone', 'display_name', 'display_description',
              'launched_on', 'locked', 'os_type', 'architecture',
              'root_device_name', 'config_drive', 'access_ip_v4',
              'access_ip_v6', 'metadata', 'system_metadata', 'info_cache',
              'security_groups', 'fault', 'pci_devices', 'numa_topology',
              'tags', 'flavor', 'old_flavor', 'new_flavor', 'keypairs',
              'trusted_certs', 'created_at', 'updated_at',
              'deleted_at', 'deleted', 'cleaned')


class BlockDeviceMapping(DictCompat):
    fields = ('id', 'instance_uuid', 'instance', 'source_type',
              'destination_type',
              'guest_format', 'device_type', 'disk_bus', 'boot_index',
              'device_name', 'delete_on_termination', 'snapshot_id',
              'volume_id', 'volume_size', 'image_id', 'no_device',
              'connection_info', 'tag', 'attachment_id', 'uuid',
              'volume_type', 'created_at', 'updated_at', 'deleted_at',
              'deleted')


class BlockDeviceMappingList(FakeObjectList):
    pass


class NetworkRequest(FakeNovaObject):
    fields = ('network_id', 'address', 'port_id', 'pci_request_id', 'tag')


class NetworkRequestList(FakeObjectList):
    pass


class RequestContext:
    """The parts of ``nova.context.RequestContext`` hooks may see."""

    def __init__(self, request_id: str, user_id: str, project_id: str,
                 auth_token: str = 'token-never-logged') -> None:
        self.request_id = request_id
        self.user_id = user_id
        self.project_id = project_id
        self.auth_token = auth_token
        self.is_admin = False


class NetworkInfo(List[Any]):
    """Like ``nova.network.model.NetworkInfo``: a list of VIF dicts."""

    def wait(self, do_raise: bool = True) -> None:
        pass

    def json(self) -> str:
        import json
        return json.dumps(self)


class PendingNetworkInfo(NetworkInfo):
    """Like a ``NetworkInfoAsyncWrapper`` whose allocation still runs."""

    def __init__(self, result: List[Any]) -> None:
        super().__init__()
        self._gt: Any = result

    def wait(self, do_raise: bool = True) -> None:
        if self._gt is not None:
            self[:] = self._gt
            self._gt = None
