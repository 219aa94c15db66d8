"""Capture the real notifications of a floating-IP scenario on Neutron.

Usage (from the repository root, in the py311 venv: oslo.messaging, and
pytest for tests.rabbit)::

    PYTHONPATH=. .venvs/py311/bin/python -m nova_tier.neutron.capture OUT.jsonl

Starts a private RabbitMQ (tools/rabbitmq-server.sh) and a real Neutron
(:class:`~nova_tier.neutron.server.NeutronServer`, venv from
tools/neutron-env.sh) in a temporary directory, listens on exchange
``neutron``, topic ``notifications`` (priorities info and error), runs the
scenario below and writes every notification as one JSON line, in receive
order::

    {"step": ..., "event_type": ..., "publisher_id": ..., "priority": ...,
     "payload": ..., "metadata": ..., "ctxt_keys": [...]}

``step`` is the scenario step running when the notification arrived (each
step waits until the broker is quiet before the next one starts). The
scenario: topology (external flat network + subnet, internal network +
subnet, router with gateway and interface); two ``compute:nova`` ports of
two instances; a floating IP created unassociated; associated with port 1,
moved to port 2, disassociated, associated with port 1 again; port 1 (which
holds it) deleted; the floating IP deleted; port 2 detached (device_id '').
"""

import json
import os
import pathlib
import shutil
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Optional

from nova_tier.neutron.server import NeutronServer
from tests.rabbit import RabbitServer

EXCHANGE = 'neutron'
TOPIC = 'notifications'
POOL = 'novahooks-capture'
PROJECT_ID = '6f70656e737461636b2070726f6a6563'
INSTANCE_1 = '11111111-2222-4333-8444-555555555501'
INSTANCE_2 = '11111111-2222-4333-8444-555555555502'
QUIET_SECONDS = 1.5


class Recorder:
    """oslo.messaging notification endpoint keeping every message."""

    def __init__(self) -> None:
        """Start with no messages and no step."""
        self.lock = threading.Lock()
        self.records: List[Dict[str, Any]] = []
        self.step = 'start'
        self.last = time.monotonic()

    def _record(self, priority: str, ctxt: Dict[str, Any],
                publisher_id: str, event_type: str, payload: Any,
                metadata: Dict[str, Any]) -> None:
        with self.lock:
            self.records.append({
                'step': self.step, 'event_type': event_type,
                'publisher_id': publisher_id, 'priority': priority,
                'payload': payload, 'metadata': dict(metadata),
                'ctxt_keys': sorted(ctxt or {})})
            self.last = time.monotonic()

    def info(self, ctxt: Dict[str, Any], publisher_id: str,
             event_type: str, payload: Any,
             metadata: Dict[str, Any]) -> None:
        """An INFO notification."""
        self._record('info', ctxt, publisher_id, event_type, payload,
                     metadata)

    def error(self, ctxt: Dict[str, Any], publisher_id: str,
              event_type: str, payload: Any,
              metadata: Dict[str, Any]) -> None:
        """An ERROR notification."""
        self._record('error', ctxt, publisher_id, event_type, payload,
                     metadata)

    def wait_quiet(self, quiet: float = QUIET_SECONDS,
                   timeout: float = 30.0) -> None:
        """Wait until nothing arrived for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                idle = time.monotonic() - self.last
            if idle >= quiet:
                return
            time.sleep(0.1)


def run_scenario(neutron: NeutronServer, recorder: Recorder,
                 log: Callable[[str], None]) -> Dict[str, Any]:
    """The floating-IP scenario; returns the ids it made."""
    ids: Dict[str, Any] = {}

    def step(name: str, call: Callable[[], Any]) -> Any:
        recorder.wait_quiet()
        with recorder.lock:
            recorder.step = name
            recorder.last = time.monotonic()
        started = time.monotonic()
        result = call()
        recorder.wait_quiet()
        log('step %-22s %.1f s' % (name, time.monotonic() - started))
        return result

    p = PROJECT_ID
    topo = step('topology', lambda: neutron.topology(p))
    ids.update(topo)
    port1 = step('create_port_1', lambda: neutron.port(
        p, topo['internal_network_id'], INSTANCE_1))
    port2 = step('create_port_2', lambda: neutron.port(
        p, topo['internal_network_id'], INSTANCE_2))
    ids.update(port_1=port1['id'], port_2=port2['id'])
    fip = step('create_floatingip', lambda: neutron.floating_ip(
        p, topo['external_network_id']))
    ids['floatingip'] = fip['id']
    step('associate_port_1', lambda: neutron.associate(fip['id'],
                                                       port1['id']))
    step('reassociate_port_2', lambda: neutron.associate(fip['id'],
                                                         port2['id']))
    step('disassociate', lambda: neutron.disassociate(fip['id']))
    step('associate_port_1_again', lambda: neutron.associate(
        fip['id'], port1['id']))
    step('delete_port_1', lambda: neutron.delete_port(port1['id']))
    ids['floatingip_after_port_delete'] = neutron.api(
        'GET', '/floatingips/%s' % fip['id'])['floatingip']
    step('delete_floatingip', lambda: neutron.delete_floating_ip(fip['id']))
    step('detach_port_2', lambda: neutron.update_port(port2['id'],
                                                      device_id=''))
    return ids


def main(argv: Optional[List[str]] = None) -> int:
    """Run the capture; write OUT.jsonl."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = pathlib.Path(args[0])

    from oslo_config import cfg
    import oslo_messaging

    def log(msg: str) -> None:
        print('=== capture: %s' % msg, file=sys.stderr, flush=True)

    tmp = pathlib.Path(tempfile.mkdtemp(prefix='novahooks-neutron-'))
    rabbit = RabbitServer.temporary()
    neutron: Optional[NeutronServer] = None
    listener: Any = None
    transport: Any = None
    recorder = Recorder()
    ok = False
    try:
        t0 = time.monotonic()
        rabbit.start()
        log('rabbitmq %s up in %.1f s' % (rabbit.url,
                                          time.monotonic() - t0))
        transport = oslo_messaging.get_notification_transport(
            cfg.ConfigOpts(), url=rabbit.url)
        targets = [oslo_messaging.Target(exchange=EXCHANGE, topic=TOPIC)]
        listener = oslo_messaging.get_notification_listener(
            transport, targets, [recorder], executor='threading',
            pool=POOL)
        listener.start()
        t1 = time.monotonic()
        neutron = NeutronServer(tmp / 'neutron', rabbit.url)
        neutron.start()
        log('neutron %s up in %.1f s' % (neutron.url,
                                         time.monotonic() - t1))
        recorder.wait_quiet()
        t2 = time.monotonic()
        ids = run_scenario(neutron, recorder, log)
        log('scenario done in %.1f s; %d notifications'
            % (time.monotonic() - t2, len(recorder.records)))
        log('ids: %s' % json.dumps(ids, sort_keys=True))
        ok = True
    finally:
        if listener is not None:
            listener.stop()
            listener.wait()
        if transport is not None:
            transport.cleanup()
        if neutron is not None:
            neutron.stop()
        rabbit.stop()
        rabbit.remove()
        if ok and not os.environ.get('NOVAHOOKS_KEEP_NEUTRON'):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log('kept %s' % tmp)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(out.name + '.tmp')
    with open(tmp_out, 'w') as f:
        for record in recorder.records:
            f.write(json.dumps(record, sort_keys=True) + '\n')
    os.replace(tmp_out, out)
    log('wrote %d notifications to %s' % (len(recorder.records), out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
