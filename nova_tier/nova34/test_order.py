"""Real Nova 34 notifications, replayed as the bus may deliver them, give
the same end state.

Through Nova's REST API: instance A boots from an image
(``networks='auto'``: port_2, 10.0.0.30), gets port_1 (10.0.0.3) attached
and detached, and stays; instance B boots from a volume (Cinder fixture,
``delete_on_termination`` false) on port_1, the port A just gave back, and
is deleted. The tier's own ``novahooks listen`` consumes them live; then
the notifications Nova sent are published again, exactly as they went on
the bus (same message ids, timestamps, priorities, publishers, payloads
and contexts; exchange ``nova``, topic ``versioned_notifications``), each
time to fresh state, a fresh pool and freshly started listeners:

- (a) in order, (b) shuffled with about 30% sent twice, (c) shuffled with
  duplicates and split between two listeners of one pool, everything
  (plugins and order guard) on the tier's PostgreSQL. Each ends as the
  live run did: the zones' records (AXFR), the storage ledger's instances
  (state, host) and volume fates, netinfo's current network of each
  instance (VIF ids and fixed IPs); nothing failed, no netinfo history
  event twice.
- B's ``instance.create.end`` delivered after its ``instance.delete.end``
  (a requeue can do that) leaves nothing behind.
"""

import collections
import json
import os
import random
from typing import Any, Dict, List, Optional, Sequence, Tuple

from nova.tests import fixtures as nova_fixtures

from nova_tier.nova34.base import (
    SAVE_ENV,
    ListenState,
    Nova34NeutronFixture,
    Nova34TestCase,
    delete_queue,
    failed,
    novahooks_all,
    start_listening,
)
from novahooks_core.notify.mapping import EVENT_TYPES

#: The port A gets at boot (10.0.0.30).
PORT_2 = Nova34NeutronFixture.port_2['id']
#: The port attached to A, detached, then B's (10.0.0.3).
PORT_1 = Nova34NeutronFixture.port_1['id']
VOLUME = nova_fixtures.CinderFixture.IMAGE_BACKED_VOL
WEB = 'web-1.cloud.internal.'
#: Fixed seeds: the same shuffles every run.
SEEDS = {'shuffled': 34, 'split': 3434}
DUPLICATES = 0.3

Record = Dict[str, Any]

#: The scenario's notifications, captured once per run (by whichever test
#: runs first): ``messages``, the instances ``a`` and ``b``, and what the
#: live listener logged.
_CAPTURED: Dict[str, Any] = {}


def instance_of(record: Record) -> Optional[str]:
    """The instance an ``instance.*`` notification is about."""
    if not str(record['event_type']).startswith('instance.'):
        return None
    return record['payload']['nova_object.data']['uuid']


def mapped(records: Sequence[Record]) -> Dict[str, int]:
    """The mapped notifications among ``records``, by event type."""
    return dict(collections.Counter(
        r['event_type'] for r in records if r['event_type'] in EVENT_TYPES))


def shuffled_with_duplicates(records: Sequence[Record], seed: int
                             ) -> List[Record]:
    """``records`` and about :data:`DUPLICATES` of them again, shuffled."""
    rng = random.Random(seed)
    again = rng.sample(list(records), round(len(records) * DUPLICATES))
    result = list(records) + again
    rng.shuffle(result)
    return result


class OrderTest(Nova34TestCase):

    # -- the scenario -------------------------------------------------------

    def captured(self) -> Dict[str, Any]:
        """The scenario's notifications (driven through Nova, and checked
        on the live listener, on first use); the live listener is stopped
        afterwards, so that replays reach only the replaying ones."""
        if not _CAPTURED:
            _CAPTURED.update(self._drive())
        else:
            self.assertEqual(0, self.listener.stop(), self.listener.log())
        delete_queue(self.rabbit['url'], self.pool)
        return _CAPTURED

    def expected(self, a: str, b: str) -> Dict[str, Any]:
        return {
            'zone': {(WEB, 'A', '10.0.0.30'),
                     ('30.0.0.10.in-addr.arpa.', 'PTR', WEB)},
            'instances': sorted([(a, 'built', 'compute'),
                                 (b, 'deleted', 'compute')]),
            'volumes': [(VOLUME, b, 'retained')],
            'netinfo': {a: [(PORT_2, '10.0.0.30')], b: []},
        }

    def _drive(self) -> Dict[str, Any]:
        a = self._create_server(name='web-1', networks='auto')
        self.notifier.wait_for_versioned_notifications('instance.create.end')
        self._attach_interface(a, PORT_1)
        self._detach_interface(a, PORT_1)
        body: Dict[str, Any] = self._build_server(
            name='vol-1', image_uuid='', networks=[{'port': PORT_1}])
        body['block_device_mapping_v2'] = [{
            'boot_index': 0, 'uuid': VOLUME, 'source_type': 'volume',
            'destination_type': 'volume', 'delete_on_termination': False}]
        b = self._wait_for_state_change(
            self.api.post_server({'server': body}), 'ACTIVE')
        self.notifier.wait_for_versioned_notifications(
            'instance.create.end', 2)
        self._delete_server(b)
        self.notifier.wait_for_versioned_notifications('instance.delete.end')

        # The live listener's end state.
        expected = self.expected(a['id'], b['id'])
        self.eventually(expected, lambda: self.end_state(
            self.live, (a['id'], b['id'])), 'the live end state', 60)
        self.wait_settled()
        self.assertEqual(0, self.listener.stop(), self.listener.log())
        messages = self.sent()
        self.assertEqual([], self.tee.errors.messages)
        stats = self.listener.stats()
        # A live stream from one Nova, in order: every mapped notification
        # handled, none stale, duplicate or failed.
        self.assertEqual(dict(mapped(messages),
                              handled=sum(mapped(messages).values())),
                         stats, self.listener.log())
        self.check(self.live, [self.live], expected, (a['id'], b['id']))
        self.save('live', stats)
        return {'messages': messages, 'a': a['id'], 'b': b['id'],
                'stats': stats}

    # -- state --------------------------------------------------------------

    def end_state(self, state: ListenState,
                  uuids: Sequence[str]) -> Dict[str, Any]:
        """The zones' records, the ledger's instances and volumes, and
        netinfo's current network (VIF ids and fixed IPs) of ``uuids``."""
        current: Dict[str, List[Tuple[str, str]]] = {u: [] for u in uuids}
        for uuid, network in state.rows(
                'netinfo.sqlite', 'select uuid, network_json '
                'from netinfo_state'):
            current[uuid] = sorted(
                (vif['id'], ip['address']) for vif in
                json.loads(network)['vifs'] for subnet in vif['subnets']
                for ip in subnet['ips'])
        return {
            'zone': self.zone_records(),
            'instances': sorted(tuple(row) for row in state.rows(
                'storage.sqlite', 'select uuid, state, host '
                'from storage_instances')),
            'volumes': sorted(tuple(row) for row in state.rows(
                'storage.sqlite', 'select volume_id, instance_uuid, fate '
                'from storage_volumes')),
            'netinfo': current,
        }

    def check(self, state: ListenState, states: Sequence[ListenState],
              expected: Dict[str, Any], uuids: Sequence[str]) -> None:
        """``state``'s end state (again, the listeners stopped); nothing
        failed or pending in any of ``states``; no netinfo history event
        twice."""
        self.assertEqual(expected, self.end_state(state, uuids))
        results = novahooks_all(
            [(each, ('listen', 'failed', '-f', 'json')) for each in states]
            + [(each, ('dns', 'pending', '-f', 'json')) for each in states])
        for each, result in zip(states, results):
            self.assertEqual([], failed(result), each.directory)
        for code, pending in results[len(states):]:
            self.assertEqual((0, []), (code, json.loads(pending)))
        history = collections.Counter(tuple(row) for row in state.rows(
            'netinfo.sqlite', 'select uuid, kind, vif_id '
            'from netinfo_events'))
        self.assertEqual({}, {event: count for event, count
                              in history.items() if count > 1})

    def save(self, name: str, stats: Dict[str, int]) -> None:
        """Keep a replay's statistics with the test's notifications."""
        directory = os.environ.get(SAVE_ENV)
        if directory:
            os.makedirs(directory, exist_ok=True)
            with open(os.path.join(directory, '%s.%s.stats.json'
                                   % (self.id(), name)), 'w') as stream:
                json.dump(stats, stream, indent=1, sort_keys=True)

    # -- replays ------------------------------------------------------------

    def replay(self, name: str, records: Sequence[Record],
               expected: Dict[str, Any], uuids: Sequence[str],
               listeners: int = 1, database_url: Optional[str] = None,
               batch_size: int = 1) -> Dict[str, int]:
        """Publish ``records`` to fresh listeners (one pool, each its own
        state directory; SQLite, or all on ``database_url``; in batches of
        ``batch_size``), the zones cleared; check their end state; return
        their summed statistics."""
        self.clear_zones()
        pool = 'novahooks-nova34-%s-%s' % (name, os.urandom(4).hex())
        states = [self.listen_state('%s-%d' % (name, n), pool=pool,
                                    database_url=database_url,
                                    batch_size=batch_size)
                  for n in range(listeners)]
        start_listening(states)
        for record in records:
            self.tee.publish(record)
        processes = [state.listener for state in states]
        self.eventually(expected, lambda: self.end_state(states[0], uuids),
                        'replay %s: the end state' % name, 60, processes)
        self.wait_settled(pool)
        for process in processes:
            process.terminate()
        for process in processes:
            self.assertEqual(0, process.stop(), process.log())
        self.assertEqual([], self.tee.errors.messages)
        stats: Dict[str, int] = collections.Counter()
        for process in processes:
            stats.update(process.stats())
        stats = dict(stats)
        self.save(name, stats)
        # Every mapped message (duplicates too) handled, once: nothing
        # failed, parked or left.
        counts = mapped(records)
        self.assertEqual(dict(counts, handled=sum(counts.values())),
                         {key: value for key, value in stats.items()
                          if key in counts or key in (
                              'handled', 'failed', 'parked')},
                         stats)
        self.check(states[0], states, expected, uuids)
        return stats

    def test_replayed_in_order_shuffled_duplicated_and_split(self) -> None:
        captured = self.captured()
        messages, a, b = (captured['messages'], captured['a'],
                          captured['b'])
        expected = self.expected(a, b)

        # (a) In order: as the live stream, all handled.
        stats = self.replay('in-order', messages, expected, (a, b))
        self.assertEqual(captured['stats'], stats)

        # (b) Shuffled, some twice: what is older than what a plugin
        # applied is skipped.
        records = shuffled_with_duplicates(messages, SEEDS['shuffled'])
        stats = self.replay('shuffled', records, expected, (a, b))
        self.assertGreater(stats.get('duplicate', 0)
                           + stats.get('stale', 0), 0, stats)

        # (c) Shuffled, some twice, split between two listeners of one
        # pool, everything on PostgreSQL, in batches (units of work).
        records = shuffled_with_duplicates(messages, SEEDS['split'])
        self.replay('split', records, expected, (a, b), listeners=2,
                    database_url=self.postgres(), batch_size=10)

    def test_create_end_after_its_delete_end_leaves_nothing(self) -> None:
        captured = self.captured()
        b = captured['b']
        own = [r for r in captured['messages'] if instance_of(r) == b]
        (create_end,) = [r for r in own
                         if r['event_type'] == 'instance.create.end']
        records = [r for r in own if r is not create_end] + [create_end]
        stats = self.replay('create-last', records, {
            'zone': set(), 'instances': [(b, 'deleted', 'compute')],
            'volumes': [(VOLUME, b, 'retained')], 'netinfo': {b: []},
        }, (b,))
        # (The create.end came after the tombstone: skipped by every
        # plugin it is for.)
        self.assertGreater(stats.get('deleted', 0), 0, stats)
