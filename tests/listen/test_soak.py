"""A soak with faults: ``novahooks listen`` processes on PostgreSQL, DNS on
BIND, a stream of Nova 34's notifications (its samples, made about our
instances: boots, interface attach and detach, updates, half of them
deleted), and during it a listener SIGKILLed and restarted, RabbitMQ
restarted, BIND stopped and PostgreSQL restarted. The end state must be
what an in-order replay of the same notifications into a fresh state
gives: no change lost, no effect twice, no deleted instance back.

Reduced in CI ($NOVAHOOKS_SOAK_INSTANCES, 40 instances, about 240
notifications, BIND down $NOVAHOOKS_SOAK_DNS_DOWN = 5 s); the full size is
``tools/soak-listen.sh`` (2,000 instances: 12,000 notifications, BIND down
30 s)."""

import collections
import os
import pathlib
import signal
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

import sqlalchemy as sa

from novahooks_core.notify import lag
from tests.conftest import WriteConfig
from tests.dns.conftest import FORWARD_ZONE, BindServer, write_conf
from tests.listen.conftest import Publisher, consumers, wait_until
from tests.listen.test_order import (  # noqa: F401
    Story,
    _fresh_services,
    configure,
    end_state,
    endpoint,
    feed,
    history,
    lifecycle,
)
from tests.pg import PostgresServer, postgres  # noqa: F401
from tests.rabbit import RabbitServer

INSTANCES = int(os.environ.get('NOVAHOOKS_SOAK_INSTANCES', '40'))
DNS_DOWN = float(os.environ.get('NOVAHOOKS_SOAK_DNS_DOWN', '5'))
#: Longest wait for each phase, and for the end state.
TIMEOUT = float(os.environ.get('NOVAHOOKS_SOAK_TIMEOUT', '180'))


def soak_conf(path: pathlib.Path, bind: BindServer, state: pathlib.Path,
              rabbit: RabbitServer, url: str, pool: str) -> None:
    """DNS on BIND (its changes left to the background sender, which keeps
    them while BIND is down), storage, netinfo and the order guard on
    PostgreSQL; failed messages retried long enough to outlive a restart;
    messages in batches of the default size (units of work decided at
    once: the SIGKILL lands mid-batch)."""
    write_conf(path, bind, state)
    text = path.read_text().replace(
        'enabled_plugins = dns', 'enabled_plugins = audit,dns,storage,netinfo'
    ).replace('send_budget_ms = 10000', 'send_budget_ms = 0\n'
              'database_url = %s\nretry_initial_seconds = 0.2\n'
              'retry_max_seconds = 2' % url)
    path.write_text(text + (
        '\n[listen]\ntransport_url = %(rabbit)s\npool = %(pool)s\n'
        'retry_delay = 0.2\nmax_attempts = 60\ndatabase_url = %(url)s\n'
        '\n'
        '[oslo_messaging_rabbit]\namqp_durable_queues = true\n'
        'rabbit_retry_interval = 1\nrabbit_retry_backoff = 1\n\n'
        '[storage]\ndatabase_url = %(url)s\n\n'
        '[netinfo]\ndatabase_url = %(url)s\n')
        % {'rabbit': rabbit.url, 'pool': pool, 'url': url})


def listener(config_file: pathlib.Path, log: pathlib.Path
             ) -> 'subprocess.Popen[bytes]':
    """``novahooks listen`` in its own process (log: its stderr)."""
    with open(log, 'ab') as stream:
        return subprocess.Popen(
            [sys.executable, '-m', 'novahooks_core.cli.app', 'listen'],
            env=dict(os.environ, NOVAHOOKS_CONFIG=str(config_file)),
            stdin=subprocess.DEVNULL, stdout=stream, stderr=stream)


def handled(state: pathlib.Path) -> int:
    """Messages the listeners handled, as their status files say (a
    SIGKILLed one's as it last wrote)."""
    return sum(int((found.get('counts') or {}).get('handled', 0))
               for found in lag.read_statuses(str(state)))


def comparable(found: Dict[str, Any]) -> Dict[str, Any]:
    """What must match between the soak and the replay: DNS address
    records (the replay's hosts file holds no PTR), ledger, netinfo."""
    return {'dns': sorted(r for r in found['dns'] if r[2] in ('A', 'AAAA')),
            'instances': found['instances'], 'volumes': found['volumes'],
            'netinfo': found['netinfo'], 'failed': found['failed']}


def outbox(url: str) -> int:
    """DNS changes still waiting in the outbox."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(
                'select count(*) from dns_outbox')).scalar())
    finally:
        engine.dispose()


def test_a_soak_with_faults_loses_nothing_and_duplicates_nothing(
        samples_dir: pathlib.Path, write_config: WriteConfig,
        bind: BindServer, rabbit: RabbitServer,
        postgres: PostgresServer,  # noqa: F811
        tmp_path: pathlib.Path, clean_zones: None) -> None:
    story = Story(samples_dir)
    deleted = [lifecycle(story, 1000 + n, delete=n % 2 == 0)
               for n in range(INSTANCES)]
    messages = story.messages
    # The replay: in order, once, into a fresh state (DNS on a hosts file).
    replay_state = tmp_path / 'replay'
    configure(write_config, replay_state)
    target = endpoint()
    for message in messages:
        feed(target, message)
    expected = comparable(end_state(None, replay_state))
    expected_history = history(None, replay_state)
    assert expected['failed'] == [] and expected_history
    # The soak.
    postgres.reset()
    url = postgres.url
    state = tmp_path / 'soak'
    conf = tmp_path / 'soak.conf'
    pool = 'novahooks-soak-%d' % os.getpid()
    soak_conf(conf, bind, state, rabbit, url, pool)
    log = tmp_path / 'listeners.log'
    subprocess.run([sys.executable, '-m', 'novahooks_core.cli.app',
                    '--config-file', str(conf), 'db', 'sync', '--listen'],
                   check=True, capture_output=True)
    procs = [listener(conf, log)]
    publisher = Publisher(rabbit.url, tmp_path)
    third = len(messages) // 3
    faults: List[str] = []

    def publish(batch: List[Dict[str, Any]]) -> None:
        for message in batch:
            publisher.send(message, {'request_id': 'req-soak'})

    def progress(at_least: int, what: str) -> None:
        wait_until(lambda: handled(state) >= at_least, timeout=TIMEOUT,
                   what=what)

    try:
        # Consuming (its queue declared) before anything is published.
        wait_until(lambda: consumers(rabbit.url, pool) == 1, timeout=60,
                   what='the first listener consuming')
        publish(messages[:third])
        progress(third // 2, 'a sixth handled')
        procs[0].send_signal(signal.SIGKILL)  # mid-stream, mid-message
        procs[0].wait(30)
        faults.append('listener SIGKILLed and restarted')
        procs.append(listener(conf, log))
        publish(messages[third:2 * third])
        rabbit.stop()
        rabbit.start()
        faults.append('RabbitMQ restarted')
        publisher.close()
        publisher = Publisher(rabbit.url, tmp_path)
        progress(third, 'a third handled')
        bind.stop()
        try:
            publish(messages[2 * third:])
            time.sleep(DNS_DOWN)
        finally:
            bind.start()
        faults.append('BIND stopped for %g s' % DNS_DOWN)
        postgres.stop()
        time.sleep(1.0)
        postgres.start()
        faults.append('PostgreSQL restarted')

        def settled() -> Optional[Dict[str, Any]]:
            # The end state, and DNS's outbox empty: the reverse records
            # (not compared) may still be on their way to BIND.
            found = comparable(end_state(url, state))
            return found if found == expected and not outbox(url) else None
        try:
            wait_until(settled, timeout=TIMEOUT,
                       what='the replay\'s end state')
        except AssertionError:
            found = comparable(end_state(url, state))
            diff = {k: sorted(set(map(repr, found[k].items() if isinstance(
                found[k], dict) else found[k])) ^ set(map(repr, (
                    expected[k].items() if isinstance(expected[k], dict)
                    else expected[k]))))[:10]
                for k in expected if found[k] != expected[k]}
            raise AssertionError(
                'after %s: the end state differs: %r; %d DNS change(s) '
                'left in the outbox' % (', '.join(faults), diff,
                                        outbox(url))) from None
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        publisher.close()
    # No effect twice: netinfo's history is the replay's, event for event.
    found_history = collections.Counter(history(url, state))
    wanted_history = collections.Counter(expected_history)
    assert found_history == wanted_history, (
        'more than the replay: %r; fewer: %r' % (
            sorted((found_history - wanted_history).items())[:10],
            sorted((wanted_history - found_history).items())[:10]))
    # DNS as served (AXFR) is what the replay applied; DNS's outbox is
    # empty (nothing left, nothing lost).
    wanted = {(name, rtype, value) for _, name, rtype, value
              in expected['dns']}
    served = bind.zone_records(FORWARD_ZONE)  # emptied at the start
    assert served == wanted
    # Deleted instances stay deleted: none has a record or a live row.
    gone = {uuid for n, uuid in enumerate(deleted) if n % 2 == 0}
    assert not {r[0] for r in expected['dns']} & gone
    assert {u for u, s in expected['instances'] if u in gone} == gone
    assert all(s == 'deleted' for u, s in expected['instances'] if u in gone)
    assert outbox(url) == 0
    print('soak: %d instances, %d notifications; %s; end state = replay'
          % (INSTANCES, len(messages), ', '.join(faults)))
