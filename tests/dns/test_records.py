"""Which records an instance should have: the pure decision."""

from novahooks_core import normalize
from novahooks_core.testing import factories
from novahooks_dns.records import (
    Record,
    Settings,
    desired_records,
    forward_name,
    label,
    reverse_zone_of,
)

ZONE = 'cloud.internal.'
V4_REV = '0.0.10.in-addr.arpa.'
V6_REV = '0.0.0.0.0.0.0.0.0.1.0.0.0.0.d.f.ip6.arpa.'  # fd00:10::/64
FIP_REV = '4.24.172.in-addr.arpa.'


def _instance(*vifs, **fields):
    raw = factories.instance(state='active', host='cmp',
                             network=factories.network_info(*vifs), **fields)
    inst = normalize.instance(raw)
    assert inst is not None
    return inst


def test_a_aaaa_and_ptr_for_one_nic() -> None:
    inst = _instance(factories.vif('10.0.0.5', ipv6='fd00:10::5'),
                     hostname='Web 1')
    records = desired_records(inst, inst.network_info, Settings(
        ZONE, (V4_REV, V6_REV), ttl=60))
    name = 'web-1.cloud.internal.'
    assert records == {
        Record(ZONE, name, 'A', '10.0.0.5', 60),
        Record(ZONE, name, 'AAAA', 'fd00:10::5', 60),
        Record(V4_REV, '5.0.0.10.in-addr.arpa.', 'PTR', name, 60),
        Record(V6_REV, '5.0.0.0.' + '0.' * 20 + '0.1.0.0.0.0.d.f.ip6.arpa.',
               'PTR', name, 60)}


def test_several_nics_networks_filter_and_templates() -> None:
    inst = _instance(
        factories.vif('10.0.0.5', network_label='private'),
        factories.vif('192.168.7.9', network_label='storage'),
        hostname='db')
    settings = Settings(ZONE, (V4_REV,), forward_template='{hostname}',
                        networks=('private',))
    assert {r.value for r in desired_records(
        inst, inst.network_info, settings)} == {
        '10.0.0.5', 'db.cloud.internal.'}
    per_net = Settings(ZONE, forward_template='{hostname}.{network_label}')
    assert {(r.name, r.value) for r in desired_records(
        inst, inst.network_info, per_net)} == {
        ('db.private.cloud.internal.', '10.0.0.5'),
        ('db.storage.cloud.internal.', '192.168.7.9')}
    by_ip = Settings(ZONE, forward_template='ip-{dashed_ip}')
    assert {r.name for r in desired_records(
        inst, inst.network_info, by_ip)} == {
        'ip-10-0-0-5.cloud.internal.', 'ip-192-168-7-9.cloud.internal.'}
    octet = Settings(ZONE, forward_template='h{octets[3]}.{project_id}')
    assert {r.name for r in desired_records(
        inst, inst.network_info, octet)} == {
        'h5.project-a.cloud.internal.', 'h9.project-a.cloud.internal.'}


def test_floating_ips_only_with_their_template() -> None:
    inst = _instance(factories.vif('10.0.0.5', floating=['172.24.4.10']),
                     hostname='web')
    plain = desired_records(inst, inst.network_info, Settings(ZONE))
    assert {r.value for r in plain} == {'10.0.0.5'}
    with_fip = desired_records(inst, inst.network_info, Settings(
        ZONE, (FIP_REV,), floating_template='{hostname}-public'))
    assert Record(ZONE, 'web-public.cloud.internal.', 'A', '172.24.4.10',
                  300) in with_fip
    assert Record(FIP_REV, '10.4.24.172.in-addr.arpa.', 'PTR',
                  'web-public.cloud.internal.', 300) in with_fip


def test_outside_zone_templates_and_bad_templates_give_nothing() -> None:
    inst = _instance(factories.vif('10.0.0.5'))
    assert desired_records(inst, inst.network_info, Settings(
        ZONE, forward_template='{hostname}.elsewhere.org.')) == frozenset()
    assert desired_records(inst, inst.network_info, Settings(
        ZONE, forward_template='{nosuch}')) == frozenset()
    assert desired_records(inst, None, Settings(ZONE)) == frozenset()


def test_labels_and_reverse_zones() -> None:
    assert label('Ünïcode_Name!!') == 'n-code-name'
    assert label('---') == 'host' and len(label('x' * 99)) == 63
    assert reverse_zone_of('10.0.0.7', ['in-addr.arpa.', V4_REV]) == V4_REV
    assert reverse_zone_of('10.9.0.7', [V4_REV]) is None
    inst = _instance(factories.vif(), hostname='a b')
    assert forward_name(inst, Settings(ZONE)) == 'a-b.cloud.internal.'
    assert forward_name(inst, Settings(ZONE, forward_template='{dashed_ip}')
                        ) is None
