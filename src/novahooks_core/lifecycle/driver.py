"""A whole instance lifecycle driven through a :class:`NovaRunner`.

The order and arguments are those observed in a real Nova 21 boot and
delete: create (pre, post with the new instances), build (its network
allocation fires ``instance_network_info`` with ``nw_info=``), a periodic
cache heal with nothing changed, then delete (its deallocation passes an
empty ``NetworkInfo`` as the fourth positional argument).
"""

from typing import Any, Callable, List, Optional

from oslo_utils import timeutils

from novahooks_core.lifecycle import factories, fakes
from novahooks_core.runner import NovaRunner


def update_cache(impl: Any, context: Any, instance: Any, nw_info: Any = None,
                 update_cells: bool = True) -> None:
    """Nova's ``update_instance_cache_with_nw_info`` without a database:
    a missing ``nw_info`` keeps what the cache had (as a heal would find)."""
    if instance.get('deleted', False):
        return
    if isinstance(nw_info, list):
        getattr(nw_info, 'wait', lambda: None)()
        instance.info_cache.network_info = fakes.NetworkInfo(nw_info)


def run_lifecycle(runner: NovaRunner, release: int = 21, count: int = 1,
                  ipv6: bool = True, build_result: str = 'active',
                  host: str = 'compute-1',
                  bdms: Optional[fakes.BlockDeviceMappingList] = None,
                  progress: Callable[[int, int], Any] = lambda done, total:
                  None) -> List[fakes.Instance]:
    """Create, build, heal and delete ``count`` instances; returns them.
    ``progress(done, total)`` is told after each build and each delete."""

    def create(service: Any, context: Any, instance_type: Any,
               image_href: Any, **kwargs: Any) -> Any:
        instances = [factories.instance(
            state='building', release=release, hostname='web-%d' % (i + 1),
            display_name='web %d' % (i + 1), launch_index=i)
            for i in range(count)]
        return instances, 'r-%08d' % count

    args, kwargs = factories.create_instance_args(
        release, min_count=count, max_count=count)
    instances, _ = runner.call('create_instance', create, *args, **kwargs)

    for index, inst in enumerate(instances):
        network = factories.network_info(factories.vif(
            address='10.0.0.%d' % (10 + index),
            ipv6='fd00:10::%x' % (0x10 + index) if ipv6 else None))

        def build(service: Any, context: Any, instance: Any,
                  *rest: Any, network: Any = network) -> str:
            instance.host = instance.node = host
            net_args, net_kwargs = factories.instance_network_info_args(
                instance, network, release)
            runner.call('instance_network_info', update_cache, *net_args,
                        **net_kwargs)
            instance.vm_state = ('active' if build_result == 'active'
                                 else 'error')
            instance.launched_at = timeutils.utcnow()
            return build_result

        build_args, _ = factories.build_instance_args(inst, release, bdms)
        runner.call('build_instance', build, *build_args)
        heal_args, heal_kwargs = factories.instance_network_info_args(
            inst, release=release)
        runner.call('instance_network_info', update_cache, *heal_args,
                    **heal_kwargs)
        progress(index + 1, 2 * len(instances))

    for index, inst in enumerate(instances):
        delete_instance(runner, inst, release, bdms)
        progress(len(instances) + index + 1, 2 * len(instances))
    return list(instances)


def delete_instance(runner: NovaRunner, inst: Any, release: int = 21,
                    bdms: Optional[fakes.BlockDeviceMappingList] = None
                    ) -> None:
    """Delete ``inst`` as Nova's compute manager does: ``delete_instance``
    pre, the network deallocation (an empty cache), then post."""
    def delete(service: Any, context: Any, instance: Any, *rest: Any
               ) -> None:
        net_args, net_kwargs = factories.instance_network_info_args(
            instance, fakes.NetworkInfo(), release, positional=True)
        runner.call('instance_network_info', update_cache, *net_args,
                    **net_kwargs)
        instance.vm_state, instance.task_state = 'deleted', None
        instance.deleted = True
        instance.terminated_at = timeutils.utcnow()

    inst.task_state = 'deleting'
    delete_args, _ = factories.delete_instance_args(inst, release, bdms)
    runner.call('delete_instance', delete, *delete_args)
