"""One hook call, or one notification, as a :class:`HookEvent`.

A hook call's arguments are bound by name (:mod:`novahooks_core.hooks.binding`)
and normalized lazily: a handler pays only for the fields it reads. The
notification adapter builds a :class:`NotifiedEvent` of models it already
normalized; handlers read both alike.
"""

import dataclasses
from typing import (
    Any,
    Callable,
    Dict,
    Generic,
    Hashable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    overload,
)

from novahooks_core import config, models, normalize
from novahooks_core.containment import redact
from novahooks_core.hooks.binding import (
    NEWEST,
    OLDEST,
    BoundCall,
    bind,
    release_range,
)
from novahooks_core.models import HookPoint, Phase

#: The instance's fields in :attr:`HookEvent.unchanged_key`.
_KEY_FIELDS = ('uuid', 'hostname', 'display_name', 'project_id', 'host',
               'vm_state', 'task_state', 'deleted')


T = TypeVar('T')


class lazy(Generic[T]):  # noqa: N801 - used like functools.cached_property
    """``functools.cached_property`` without its lock (Python < 3.12 takes
    one per first access, a cost paid on every hook call)."""

    def __init__(self, compute: Callable[[Any], T]) -> None:
        self.compute = compute
        self.name = compute.__name__
        self.__doc__ = compute.__doc__

    @overload
    def __get__(self, obj: None, owner: Any) -> 'lazy[T]': ...

    @overload
    def __get__(self, obj: object, owner: Any) -> T: ...

    def __get__(self, obj: Any, owner: Any) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.compute(obj)
        return value


@dataclasses.dataclass(frozen=True, init=False)
class HookEvent:
    """One hook call, normalized on demand.

    ``result`` is the hooked function's return value in ``post`` (for
    ``build_instance``: ``'active'``, ``'failed'`` or ``'rescheduled'``);
    ``instances`` are the instances ``create_instance`` returned.
    """

    hook: HookPoint
    phase: Phase
    args: Sequence[Any] = dataclasses.field(repr=False, compare=False)
    kwargs: Mapping[str, Any] = dataclasses.field(repr=False, compare=False)
    raw_result: Any = dataclasses.field(default=None, repr=False,
                                        compare=False)

    def __init__(self, hook: HookPoint, phase: Phase, args: Sequence[Any],
                 kwargs: Mapping[str, Any], raw_result: Any = None) -> None:
        # One per hooked call: set at once, not through the frozen
        # dataclass's object.__setattr__ per field.
        fields = self.__dict__
        fields['hook'] = hook
        fields['phase'] = phase
        fields['args'] = args
        fields['kwargs'] = kwargs
        fields['raw_result'] = raw_result

    @lazy
    def raw_call(self) -> BoundCall:
        """The hooked call's raw arguments by name, for the rare handler
        that needs one no model carries.

        They hold the call's secrets (admin password, user data, keys,
        injected files, volume connection info): never log, store or raise
        them. Every field a plugin uses is normalized (and free of them) in
        the other attributes; a notification's event has none."""
        return bind(self.hook, self.args, self.kwargs)

    @lazy
    def secrets(self) -> List[str]:
        """What no text about this call may show: its secret arguments'
        values and the configured secret options' (listed once per call,
        for all the plugins handling it)."""
        return (redact.secret_values(self.raw_call.values)
                + redact.configured_secrets(config.current()))

    @lazy
    def nova_releases(self) -> Tuple[int, int]:
        """Oldest and newest Nova release this call's shape fits."""
        return release_range(self.hook, self.raw_call)

    @lazy
    def request(self) -> models.RequestInfo:
        """Request id, project and user of the caller."""
        return normalize.request_info(self.raw_call.get('context'))

    @lazy
    def raw_network_info(self) -> Any:
        """The network info this call is about, as Nova passed it.

        For ``instance_network_info`` it is ``nw_info`` when given as a list
        of VIFs; in ``post`` otherwise what Nova stored in the instance's
        ``info_cache``. For other hooks it is the instance's info cache.
        """
        if self.hook is HookPoint.INSTANCE_NETWORK_INFO:
            given = self.raw_call.get('nw_info')
            if isinstance(given, list):
                return given
            if self.phase is Phase.PRE:
                return None
        return normalize.raw_info_cache_network_info(
            self.raw_call.get('instance'))

    @lazy
    def network_info(self) -> Optional[models.NetworkInfo]:
        """The network info this call is about, ``None`` when unknown."""
        return normalize.network_info(self.raw_network_info)

    @lazy
    def network_info_key(self) -> Optional[Hashable]:
        """A cheap key of :attr:`network_info` (see
        :func:`~novahooks_core.normalize.network_info_key`)."""
        return normalize.network_info_key(self.raw_network_info)

    @lazy
    def unchanged_key(self) -> Optional[Hashable]:
        """A cheap key of what a plugin's handling of this call depends on:
        the instance's identity, names and state, and
        :attr:`network_info_key`. Equal keys: nothing a plugin tracks
        changed (see :mod:`novahooks_core.hooks.seen`). ``None`` for a
        create or when there is no cheap key (then nothing is taken as
        unchanged)."""
        if self.hook is HookPoint.CREATE_INSTANCE:
            return None
        network = self.network_info_key
        if network is None or not self.instance_uuid:
            return None
        return (tuple(normalize.read_fields(self.raw_call.get('instance'),
                                            _KEY_FIELDS)), network)

    @lazy
    def instance(self) -> Optional[models.Instance]:
        """The instance (``None`` for ``create_instance``: see instances)."""
        if self.hook is HookPoint.CREATE_INSTANCE:
            return None
        return normalize.instance(self.raw_call.get('instance'),
                                  network=self.network_info)

    @lazy
    def instances(self) -> Tuple[models.Instance, ...]:
        """All instances of the call: those ``create`` returned, or one."""
        if self.hook is not HookPoint.CREATE_INSTANCE:
            return (self.instance,) if self.instance is not None else ()
        if self.phase is Phase.PRE:
            return ()
        result = self.raw_result
        created = result[0] if isinstance(result, tuple) and result else None
        if created is None:
            return ()
        created = normalize.object_list(created)
        if not isinstance(created, (list, tuple)):
            raise normalize.BadInput(
                'create_instance returned %s, expected (instances, '
                'reservation_id)' % type(result).__name__)
        return tuple(i for i in (normalize.instance(c) for c in created)
                     if i is not None)

    @lazy
    def reservation_id(self) -> Optional[str]:
        """The reservation id ``create_instance`` returned."""
        result = self.raw_result
        if (self.hook is HookPoint.CREATE_INSTANCE
                and isinstance(result, tuple) and len(result) > 1):
            return normalize.as_str(result[1])
        return None

    @lazy
    def flavor(self) -> Optional[models.Flavor]:
        """The requested flavor (create) or the instance's flavor."""
        if self.hook is HookPoint.CREATE_INSTANCE:
            return normalize.flavor(self.raw_call.get('instance_type'))
        return self.instance.flavor if self.instance else None

    @lazy
    def create_request(self) -> Optional[models.CreateRequest]:
        """What the user asked for (``create_instance`` only)."""
        if self.hook is not HookPoint.CREATE_INSTANCE:
            return None
        return normalize.create_request(self.raw_call.values)

    @lazy
    def block_devices(self) -> Tuple[models.BlockDevice, ...]:
        """Requested (create), actual (build) or current (delete) mappings."""
        if self.hook is HookPoint.CREATE_INSTANCE:
            request = self.create_request
            return request.block_devices if request else ()
        if self.hook is HookPoint.BUILD_INSTANCE:
            return normalize.block_devices(
                self.raw_call.get('block_device_mapping'))
        if self.hook is HookPoint.DELETE_INSTANCE:
            return normalize.block_devices(self.raw_call.get('bdms'))
        return ()

    @lazy
    def block_devices_known(self) -> bool:
        """Whether the source told the block devices: a hook call always
        does; a notification only with Nova's ``bdms_in_notifications``.
        When not, :attr:`block_devices` is empty but means "not told"."""
        return True

    @lazy
    def result(self) -> Optional[str]:
        """``build_instance``'s outcome in ``post``; ``None`` elsewhere."""
        if self.hook is HookPoint.BUILD_INSTANCE:
            return normalize.as_str(self.raw_result)
        return None

    @lazy
    def instance_uuid(self) -> Optional[str]:
        """The instance's UUID, read cheaply (for log lines)."""
        if self.hook is HookPoint.CREATE_INSTANCE:
            return None
        return normalize.as_str(
            normalize.read_field(self.raw_call.get('instance'), 'uuid'))

    def normalized(self) -> Dict[str, Any]:
        """Every normalized field, as models."""
        return {
            'hook': self.hook, 'phase': self.phase,
            'nova_releases': self.nova_releases,
            'request': self.request,
            'instances': self.instances,
            'reservation_id': self.reservation_id,
            'flavor': self.flavor,
            'create_request': self.create_request,
            'block_devices': self.block_devices,
            'network_info': self.network_info,
            'result': self.result,
        }

    def normalize_all(self) -> Dict[str, Any]:
        """Every normalized field, as JSON-ready primitives."""
        result: Dict[str, Any] = models.to_primitive(self.normalized())
        return result


class NotifiedEvent(HookEvent):
    """A :class:`HookEvent` made of values already normalized (by the
    notification adapter): handlers read it like one from a hook call.

    There are no raw arguments (:attr:`raw_call` is empty), no create
    request and no cheap network-info key; the network info and flavor are
    the instance's. ``block_devices=None``: the source did not tell them.
    """

    def __init__(self, hook: HookPoint, phase: Phase,
                 instance: Optional[models.Instance] = None, *,
                 instances: Optional[Tuple[models.Instance, ...]] = None,
                 block_devices: Optional[
                     Tuple[models.BlockDevice, ...]] = (),
                 request: Optional[models.RequestInfo] = None,
                 result: Optional[str] = None,
                 reservation_id: Optional[str] = None,
                 nova_releases: Tuple[int, int] = (OLDEST, NEWEST)) -> None:
        super().__init__(hook, phase, (), {})
        creating = hook is HookPoint.CREATE_INSTANCE
        if instances is None:
            instances = (instance,) if instance is not None else ()
        uuid = None if creating or instance is None else instance.uuid
        # Every lazy field of HookEvent, known already (set as the frozen
        # base class sets its own fields).
        self.__dict__.update(
            raw_call=BoundCall({}, 0, ()),
            nova_releases=nova_releases,
            request=request or models.RequestInfo(),
            raw_network_info=None, network_info_key=None,
            unchanged_key=None if instance is None or not uuid else (
                tuple(getattr(instance, name) for name in _KEY_FIELDS),
                instance.network_info),
            network_info=instance.network_info if instance else None,
            instance=None if creating else instance, instance_uuid=uuid,
            instances=instances, reservation_id=reservation_id,
            flavor=instance.flavor if instance else None,
            create_request=None, block_devices=block_devices or (),
            block_devices_known=block_devices is not None, result=result)
