"""Hooks that write every normalized event to ``<state_dir>/events.jsonl``.

Installed only into the real-Nova test environment, so the tests can see
what our core made of Nova's real arguments. ``[recorder] fail`` lists
``hook:phase`` pairs whose handler raises; ``[recorder] leak`` those whose
handler raises quoting Nova's raw arguments and each volume mapping, as a
careless handler would; ``[recorder] veto`` lists hook points whose
``pre`` refuses. ``BrokenInit`` (plugin ``broken``, behind
novahooks' dispatcher) cannot even be built.
"""

import json
import os
from typing import Optional

from oslo_config import cfg

from novahooks_core import HookEvent, HookPoint, NovaHook, Veto, config, plugin

OPTS = [cfg.ListOpt('fail', default=[]), cfg.ListOpt('leak', default=[]),
        cfg.ListOpt('veto', default=[])]


class RecorderPlugin(plugin.Plugin):
    """The recorder's descriptor: its options."""

    name = 'recorder'
    options = OPTS


class Recorder(NovaHook):
    plugin_name = 'recorder'

    def _record(self, event: HookEvent) -> Optional[str]:
        conf = plugin.configured('recorder')
        record = event.normalize_all()
        record['pid'] = os.getpid()
        path = os.path.join(config.state_dir(), 'events.jsonl')
        with open(path, 'a') as stream:
            stream.write(json.dumps(record, sort_keys=True) + '\n')
        where = '%s:%s' % (event.hook.value, event.phase.value)
        if where in conf.recorder.fail:
            raise RuntimeError('recorder told to fail at %s' % where)
        if where in conf.recorder.leak:
            values = event.raw_call.values
            bdms = values.get('bdms') or values.get('block_device_mapping')
            raise RuntimeError('recorder told to leak at %s: %r; volumes %s'
                               % (where, values, '; '.join(
                                   repr(bdm) for bdm in bdms or ())))
        if (event.phase.value == 'pre'
                and event.hook.value in conf.recorder.veto):
            raise Veto('recorder refuses %s for project %s'
                       % (event.hook.value, event.request.project_id))
        return 'recorded %s' % where

    handle_pre = _record
    handle_post = _record


class RecordCreate(Recorder):
    hook_point = HookPoint.CREATE_INSTANCE


class RecordBuild(Recorder):
    hook_point = HookPoint.BUILD_INSTANCE


class RecordDelete(Recorder):
    hook_point = HookPoint.DELETE_INSTANCE


class RecordNetworkInfo(Recorder):
    hook_point = HookPoint.INSTANCE_NETWORK_INFO


class BrokenInit(NovaHook):
    """A handler class whose constructor raises."""

    plugin_name = 'broken'
    hook_point = HookPoint.INSTANCE_NETWORK_INFO

    def __init__(self) -> None:
        raise RuntimeError('BrokenInit cannot be built')

    def handle_post(self, event: HookEvent) -> Optional[str]:
        return 'never'
