"""The netinfo plugin: typed changes, anomalies, history, through the
installed entry points."""

import json
import multiprocessing
import os
import pathlib
from typing import Any, Dict, Iterator, List, Set, Tuple

import pytest

from novahooks_core import config, normalize
from novahooks_core.state import db
from novahooks_core.testing import NovaRunner, factories, run_lifecycle
from novahooks_netinfo import changes
from novahooks_netinfo import service as netinfo_service
from tests.conftest import WriteConfig, cli
from tests.pg import database_url, postgres  # noqa: F401


@pytest.fixture(autouse=True)
def _fresh_service(write_config: WriteConfig, tmp_path: pathlib.Path
                   ) -> Iterator[None]:
    netinfo_service.reset()
    db.reset()
    write_config(enabled_plugins='netinfo', extra=(
        '[netinfo]\ndatabase_url = sqlite:///%s\n'
        % (tmp_path / 'netinfo.sqlite')))
    yield
    netinfo_service.reset()
    db.reset()


def net(*vifs: dict) -> Any:
    model = normalize.network_info(factories.network_info(*vifs))
    assert model is not None
    return model


def kinds(found: List[changes.Change]) -> List[Tuple[str, str]]:
    return [(c.kind, c.detail) for c in found]


def test_every_change_type() -> None:
    a = factories.vif('10.0.0.5', port_id='p1', mac='fa:16:3e:00:00:01')
    b = factories.vif('10.0.0.6', port_id='p2', mac='fa:16:3e:00:00:02',
                      network_label='b')
    assert kinds(changes.diff(net(a), net(a, b))) == [
        ('vif_added', 'fa:16:3e:00:00:02 on b')]
    assert kinds(changes.diff(net(a, b), net(a))) == [
        ('vif_removed', 'fa:16:3e:00:00:02')]
    a2 = factories.vif('10.0.0.7', port_id='p1', mac='fa:16:3e:00:00:01')
    assert kinds(changes.diff(net(a), net(a2))) == [
        ('fixed_ip_added', '10.0.0.7'), ('fixed_ip_removed', '10.0.0.5')]
    fip = factories.vif('10.0.0.5', port_id='p1', mac='fa:16:3e:00:00:01',
                        floating=['172.24.4.9'])
    assert kinds(changes.diff(net(a), net(fip))) == [
        ('floating_ip_associated', '172.24.4.9 -> 10.0.0.5')]
    assert kinds(changes.diff(net(fip), net(a))) == [
        ('floating_ip_disassociated', '172.24.4.9')]
    moved = factories.vif('10.0.0.6', port_id='p2', mac='fa:16:3e:00:00:02',
                          network_label='b', floating=['172.24.4.9'])
    assert kinds(changes.diff(net(fip, b), net(a, moved))) == [
        ('floating_ip_moved', '172.24.4.9: 10.0.0.5 -> 10.0.0.6')]
    down = factories.vif('10.0.0.5', port_id='p1', mac='fa:16:3e:00:00:01',
                         active=False)
    assert kinds(changes.diff(net(a), net(down))) == [
        ('vif_active_changed', 'True -> False')]
    mac = factories.vif('10.0.0.5', port_id='p1', mac='fa:16:3e:00:00:99')
    assert [c.kind for c in changes.diff(net(a), net(mac))] == [
        'mac_changed']
    other = factories.vif('10.0.0.5', port_id='p1', mac='fa:16:3e:00:00:01',
                          network_id='net-other')
    assert [c.kind for c in changes.diff(net(a), net(other))] == [
        'network_changed']
    failed = factories.vif('10.0.0.5', port_id='p1', mac='fa:16:3e:00:00:01',
                           vif_type='binding_failed')
    assert [c.kind for c in changes.diff(net(a), net(failed))] == [
        'vif_binding_failed']
    unbound = factories.vif('10.0.0.5', port_id='p1',
                            mac='fa:16:3e:00:00:01', vif_type='unbound')
    assert [c.kind for c in changes.diff(net(a), net(unbound))] == [
        'vif_unbound']
    assert changes.diff(net(a, b), net(b, a)) == []
    assert changes.fingerprint(net(a, b)) == changes.fingerprint(net(b, a))


def _observe(runner: NovaRunner, inst: Any, network: Any) -> str:
    args, kwargs = factories.instance_network_info_args(inst, network)
    runner.call('instance_network_info', lambda *a, **k: None, *args,
                **kwargs)
    return str(runner.runs[-1].summary)


def test_history_anomalies_and_last_good() -> None:
    runner = NovaRunner()
    vif = factories.vif('10.0.0.5', port_id='p1')
    inst = factories.instance(state='active', host='c1')
    assert _observe(runner, inst, factories.network_info(vif)) == \
        '1 change(s), 0 anomalies'
    for _ in range(3):  # the periodic heal
        assert _observe(runner, inst, factories.network_info(vif)) == \
            'unchanged'
    netinfo_service.reset()  # a new process: decided from the database
    assert _observe(runner, inst, factories.network_info(vif)) == \
        'unchanged'
    # The cache of a live instance empties: one alert, not every minute.
    assert _observe(runner, inst, factories.network_info()) == \
        '1 change(s), 1 anomaly'
    for _ in range(3):
        assert _observe(runner, inst, factories.network_info()) == \
            'unchanged'
    code, rows = cli('netinfo', 'anomalies', '-f', 'json')
    assert [r['Kind'] for r in rows] == ['cache_emptied']
    code, last_good = cli('netinfo', 'last-good', inst.uuid)
    assert code == 0
    # Nova's own shape: a list of VIFs, each with a nested network, which
    # reads back as the network info recorded.
    assert [v['id'] for v in last_good] == ['p1']
    assert last_good[0]['network']['subnets'][0]['ips'][0]['address'] == \
        '10.0.0.5'
    assert normalize.network_info(last_good) == normalize.network_info(
        factories.network_info(vif))
    code, rows = cli('netinfo', 'history', inst.uuid, '-f', 'json')
    assert [r['Kind'] for r in rows] == ['vif_added', 'vif_removed',
                                         'cache_emptied']
    failed = factories.vif('10.0.0.5', port_id='p1',
                           vif_type='binding_failed')
    assert _observe(runner, inst, factories.network_info(failed)).endswith(
        '1 anomaly')
    code, rows = cli('netinfo', 'show', inst.uuid, '-f', 'json')
    assert rows[0]['Type'] == 'binding_failed'
    assert rows[0]['Fixed IP'] == '10.0.0.5'


def test_a_delete_empties_the_cache_without_an_anomaly() -> None:
    runner = NovaRunner()
    run_lifecycle(runner, count=2)
    code, rows = cli('netinfo', 'anomalies', '-f', 'json')
    assert code == 0 and rows == []
    summaries = [r.summary for r in runner.runs
                 if r.handler == 'netinfo:instance_network_info:post']
    assert summaries[1] == 'unchanged'  # the heal
    assert summaries[-1] == '1 change(s), 0 anomalies'  # deallocation


def test_active_without_an_ip() -> None:
    inst = normalize.instance(factories.instance(state='active'))
    assert inst is not None
    bare = factories.vif('10.0.0.5')
    bare['network']['subnets'] = []
    found = changes.anomalies(inst, None, net(bare))
    assert [a.kind for a in found] == ['active_without_ip']
    assert changes.anomalies(inst, None, net()) == []  # no NIC at all


def test_the_same_fixed_ip_on_two_live_instances() -> None:
    runner = NovaRunner()
    first = factories.instance(state='active', host='c1')
    second = factories.instance(state='active', host='c2')
    vif = factories.vif('10.0.0.42', network_id='net-1')
    assert _observe(runner, first, factories.network_info(vif)).endswith(
        '0 anomalies')
    assert _observe(runner, second, factories.network_info(
        factories.vif('10.0.0.42', network_id='net-1'))).endswith(
        '1 anomaly')
    code, rows = cli('netinfo', 'anomalies', '-f', 'json')
    assert [(r['Instance'], r['Kind']) for r in rows] == [
        (second.uuid, 'duplicate_fixed_ip')]
    assert first.uuid in rows[0]['Detail']
    # Same address on another network: no duplicate.
    third = factories.instance(state='active', host='c3')
    assert _observe(runner, third, factories.network_info(
        factories.vif('10.0.0.42', network_id='net-2'))).endswith(
        '0 anomalies')


def test_the_json_lines_sink_survives_rotation(
        write_config: WriteConfig, tmp_path: pathlib.Path) -> None:
    sink = tmp_path / 'netinfo.jsonl'
    write_config(enabled_plugins='netinfo', extra=(
        '[netinfo]\ndatabase_url = sqlite:///%s\njsonl_path = %s\n'
        % (tmp_path / 'n.sqlite', sink)))
    netinfo_service.reset()
    runner = NovaRunner()
    inst = factories.instance(state='active', host='c1')
    _observe(runner, inst, factories.network_info(factories.vif('10.0.0.5')))
    sink.rename(tmp_path / 'netinfo.jsonl.1')  # what logrotate does
    _observe(runner, inst, factories.network_info())  # emptied: 2 lines
    first = [json.loads(line) for line in
             (tmp_path / 'netinfo.jsonl.1').read_text().splitlines()]
    second = [json.loads(line) for line in sink.read_text().splitlines()]
    assert [e['kind'] for e in first] == ['vif_added']
    assert [(e['kind'], e['anomaly']) for e in second] == [
        ('vif_removed', False), ('cache_emptied', True)]
    assert {e['instance'] for e in first + second} == {inst.uuid}


def test_an_unchanged_refresh_is_recognised_before_normalizing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    runner = NovaRunner()
    inst = factories.instance(state='active', host='c1')
    vifs = [factories.vif('10.0.%d.5' % i, ipv6='fd00::%d' % i,
                          port_id='p%d' % i) for i in range(4)]
    assert _observe(runner, inst, factories.network_info(*vifs)).startswith(
        '4 change(s)')
    normalized = []
    real = normalize.network_info
    monkeypatch.setattr(normalize, 'network_info',
                        lambda value: normalized.append(1) or real(value))
    # The heal rebuilds the model from Neutron: equal, not the same object.
    fresh = json.loads(json.dumps(factories.network_info(*vifs)))
    assert _observe(runner, inst, factories.network_info(*fresh)) == \
        'unchanged'
    assert normalized == []
    fresh[2]['active'] = False
    assert _observe(runner, inst, factories.network_info(*fresh)) == \
        '1 change(s), 0 anomalies'
    assert normalized


def test_another_process_change_is_noticed_after_recheck_seconds(
        write_config: WriteConfig, tmp_path: pathlib.Path) -> None:
    """Memory says "unchanged" for at most ``recheck_seconds``: here 0,
    so a cache another process changed meanwhile is compared again."""
    write_config(enabled_plugins='netinfo', extra=(
        '[netinfo]\ndatabase_url = sqlite:///%s\nrecheck_seconds = 0\n'
        % (tmp_path / 'shared.sqlite')))
    runner = NovaRunner()
    inst = factories.instance(state='active', host='c1')
    one = factories.vif('10.0.0.5', port_id='p1')
    two = factories.vif('10.0.0.6', port_id='p2')
    _observe(runner, inst, factories.network_info(one))
    other = netinfo_service.NetinfoService(config.register_plugin_opts(
        'netinfo', netinfo_service.OPTS))
    other_inst = normalize.instance(inst)
    assert other_inst is not None
    assert other.observe(other_inst, net(one, two)).startswith('1 change')
    # Back to one VIF, seen only by the first process: recorded.
    assert _observe(runner, inst, factories.network_info(one)) == \
        '1 change(s), 0 anomalies'
    code, rows = cli('netinfo', 'history', inst.uuid, '-f', 'json')
    assert [r['Kind'] for r in rows] == ['vif_added', 'vif_added',
                                         'vif_removed']


def _flap(config_file: str, uuid: str, port: str, rounds: int) -> None:
    """One process: the instance's cache gains and loses ``port``."""
    os.environ['NOVAHOOKS_CONFIG'] = config_file
    config.reset()
    runner = NovaRunner()
    inst = factories.instance(state='active', host='c1', uuid=uuid)
    base = factories.vif('10.0.0.5', port_id='p-base')
    extra = factories.vif('10.0.1.%d' % (len(port) + rounds), port_id=port)
    for index in range(rounds):
        vifs = (base, extra) if index % 2 == 0 else (base,)
        args, kwargs = factories.instance_network_info_args(
            inst, factories.network_info(*vifs))
        runner.call('instance_network_info', lambda *a, **k: None, *args,
                    **kwargs)
        assert runner.runs[-1].outcome == 'ok', runner.runs[-1]


@pytest.mark.parametrize('database', ['sqlite', 'postgresql'])
def test_two_processes_updating_one_instance_keep_a_consistent_history(
        database: str, write_config: WriteConfig, tmp_path: pathlib.Path,
        request: pytest.FixtureRequest) -> None:
    """Each change is decided against the state the other process left:
    replaying the history gives exactly the stored current state."""
    url = database_url(database, tmp_path / 'shared.sqlite', request)
    config_file = write_config(enabled_plugins='netinfo', extra=(
        '[netinfo]\ndatabase_url = %s\nrecheck_seconds = 0\n' % url))
    uuid = '00000000-0000-0000-0000-00000000cafe'
    # Both processes find no schema: they also race to create it (and to
    # turn the new SQLite file to WAL) before their first change.
    netinfo_service.service()
    context = multiprocessing.get_context('spawn')
    procs = [context.Process(target=_flap,
                             args=(str(config_file), uuid, port, 30))
             for port in ('p-one', 'p-two')]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(180)
        assert proc.exitcode == 0
    code, rows = cli('netinfo', 'history', uuid, '-f', 'json')
    present: Set[str] = set()
    counts: Dict[str, int] = {}
    for row in rows:
        vif = row['VIF']
        counts[row['Kind']] = counts.get(row['Kind'], 0) + 1
        if row['Kind'] == 'vif_added':
            assert vif not in present, rows
            present.add(vif)
        elif row['Kind'] == 'vif_removed':
            assert vif in present, rows
            present.remove(vif)
    code, current = cli('netinfo', 'show', uuid, '-f', 'json')
    assert present == {r['VIF'] for r in current}
    assert counts['vif_added'] >= 3  # the two processes really interleaved
