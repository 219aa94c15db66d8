"""The canary secrets (``novahooks_core.lifecycle.canaries``: admin
password, user data plain and base64, an SSH key, injected files, the
RBD, iSCSI, NFS and FC ``connection_info``, the context's keystone token)
and the configuration's (a database URL's password, a TSIG key), through
every door: the hooks (Nova's runner over stevedore, core's dispatcher,
every plugin), the listener (Nova 34 payloads on a real RabbitMQ),
``simulate`` and every other command, backends that fail. Every byte
written is searched: log lines, stdout and stderr, every file of the state
dir (spools, journals, SQLite databases, metrics textfiles), every row of
PostgreSQL, the listener's ``/metrics``.

Then each scrubbing layer is removed, one at a time, and the same search
must find the leak it stops: so every layer is proven load-bearing.
"""

import base64
import json
import logging
import os
import pathlib
import subprocess
import sys
from typing import Any, Callable, Dict, Iterator, List, Mapping, Set, Tuple
from urllib import request

import pytest
import sqlalchemy as sa

from novahooks_core import HookEvent, HookPoint, NovaHook, config
from novahooks_core.containment import isolation, metrics, redact
from novahooks_core.hooks import dispatch
from novahooks_core.normalize import object_list, read_field
from novahooks_core.notify import message as notify_message
from novahooks_core.state import db
from novahooks_core.testing import (
    RELEASES,
    NovaRunner,
    canaries,
    factories,
    run_lifecycle,
)
from novahooks_core.testing.samples import notification
from novahooks_dns import service as dns_service
from novahooks_dns.backends.rfc2136 import Rfc2136Backend
from novahooks_netinfo import service as netinfo_service
from novahooks_storage import service as storage_service
from tests.conftest import WriteConfig
from tests.listen.conftest import (  # noqa: F401
    BindServer,
    Publisher,
    Running,
    _fresh_dns_service,
    bind,
    clean_zones,
    listen_conf,
    publisher,
    rabbit,
    running,
    samples_dir,
    wait_until,
    write_conf,
)
from tests.pg import PostgresServer, postgres  # noqa: F401
from tests.servers import free_tcp_port

NOVAHOOKS = str(pathlib.Path(sys.executable).parent / 'novahooks')

#: The configuration's secrets.
DB_PASSWORD = 'CnryDbPw-5u1x'
TSIG_SECRET = 'CnryTsigKey0b1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8'  # base64
#: What a careless handler or a library's error may show besides the
#: call's own secrets: a URL with its password, a libpq-style DSN.
URL_PASSWORD = 'CnryUrlPw-8h2q'
DSN_PASSWORD = 'CnryDsnPw-4n7t'

ALL: Dict[str, str] = dict(canaries.CANARIES, database_url=DB_PASSWORD,
                           tsig_key_secret=TSIG_SECRET,
                           stray_url=URL_PASSWORD, stray_dsn=DSN_PASSWORD)


def leaks(data: Any) -> Set[str]:
    """The names of the canaries ``data`` (text or bytes) holds."""
    return set(canaries.found_in(data, ALL))


def files_leaking(*roots: pathlib.Path) -> Dict[str, Set[str]]:
    """Every file under ``roots`` that holds a canary, and which."""
    found = {}
    for root in roots:
        for path in sorted(root.rglob('*')):
            if path.is_file():
                names = leaks(path.read_bytes())
                if names:
                    found[str(path)] = names
    return found


def rows_leaking(server: PostgresServer) -> Dict[str, Set[str]]:
    """Every PostgreSQL table with a row that holds a canary."""
    found = {}
    with server.engine().connect() as conn:
        for table in server.table_names():
            text = '\n'.join(row[0] for row in conn.execute(sa.text(
                'SELECT t::text FROM "%s" t' % table)))
            if leaks(text):
                found[table] = leaks(text)
    assert server.table_names(), 'no table: nothing was searched'
    return found


def novahooks(config_file: pathlib.Path, *argv: str) -> Tuple[int, str]:
    """The installed console script, as an operator runs it (most
    verbose): exit code, stdout and stderr."""
    done = subprocess.run(
        [NOVAHOOKS, '-vvv'] + list(argv), stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=180,
        env=dict(os.environ, NOVAHOOKS_CONFIG=str(config_file)))
    return done.returncode, done.stdout + done.stderr


def every_command(uuid: str, tmp_path: pathlib.Path
                  ) -> List[Tuple[str, ...]]:
    """Every command of the installed plugins but ``listen`` itself (a
    service: the listener door), about instance ``uuid``."""
    floating = tmp_path / 'floating.json'
    floating.write_text('[]')
    return [
        ('hooks',), ('config', 'sample'), ('check',), ('db', 'sync'),
        ('simulate', '-f', 'json'), ('simulate', '--live', '-f', 'json'),
        ('metrics',), ('listen', 'status'), ('listen', 'failed'),
        ('listen', 'seed', '--floating-ips', str(floating)),
        ('dns', 'records'), ('dns', 'records', uuid), ('dns', 'pending'),
        ('dns', 'flush'), ('dns', 'check'), ('dns', 'reconcile'),
        ('dns', 'discard', '--held'),
        ('storage', 'retained'), ('storage', 'history', uuid),
        ('storage', 'summary'),
        ('netinfo', 'show', uuid), ('netinfo', 'history', uuid),
        ('netinfo', 'anomalies'), ('netinfo', 'last-good', uuid),
        ('webhook', 'pending'), ('webhook', 'failed'),
        ('webhook', 'replay'), ('webhook', 'test', 'ops'),
        ('prune', '--days', '0')]


def command_names() -> Set[str]:
    """Every ``novahooks.cli`` entry point installed."""
    from importlib import metadata
    found: Any = metadata.entry_points()
    group = (found.select(group='novahooks.cli') if hasattr(found, 'select')
             else found.get('novahooks.cli', []))
    return {entry.name for entry in group}


def test_the_command_door_runs_every_command(tmp_path: pathlib.Path
                                             ) -> None:
    """A command added later is added to :func:`every_command` too."""
    names = command_names()
    covered = {'_'.join(argv[:2]) if '_'.join(argv[:2]) in names
               else argv[0] for argv in every_command('u', tmp_path)}
    assert covered == names - {'listen'}


def _decoded(text: Any) -> str:
    return base64.b64decode(text).decode() if text else ''


class Leaky(NovaHook):
    """A user's careless handler: it records the normalized event (the
    models: no secret), then fails quoting everything at hand, as a bug or
    a library's error would (the call's arguments, each volume, the
    decoded user data and files, the token, a URL and a DSN with their
    passwords, the configured TSIG key)."""

    plugin_name = 'leaky'

    def handle_pre(self, event: HookEvent) -> None:
        # First what plugins get: the normalized event (no secrets).
        with open(os.path.join(config.state_dir(), 'normalized.jsonl'),
                  'a') as stream:
            stream.write(json.dumps(event.normalize_all()) + '\n')
        values = event.raw_call.values
        bdms = object_list(values.get('bdms')
                           or values.get('block_device_mapping')) or []
        user_data = (values.get('user_data')
                     or read_field(values.get('instance'), 'user_data'))
        files = values.get('injected_files') or []
        raise RuntimeError(
            'cannot handle: user data %s; files %s; token %s refused by '
            'http://admin:%s@keystone.example:5000/v3; tsig %s; dsn '
            'host=db password=%s; volumes %s; arguments %r' % (
                _decoded(user_data), [_decoded(c) for _, c in files],
                values['context'].auth_token, URL_PASSWORD,
                config.get().dns_rfc2136.key_secret, DSN_PASSWORD,
                '; '.join(repr(b) for b in bdms), values))


def add_leaky() -> None:
    """A ``Leaky`` handler at every hook point, behind the dispatcher."""
    for point in HookPoint:
        dispatch.handler_classes()[point].append(type(
            'Leaky' + point.name.title().replace('_', ''), (Leaky,),
            {'hook_point': point}))


class Failing(NovaHook):
    """A plugin failing every create: its message is parked, then
    recorded as failed."""

    plugin_name = 'failing'
    hook_point = HookPoint.CREATE_INSTANCE

    def handle_post(self, event: HookEvent) -> None:
        raise RuntimeError('failing on purpose')


UUID = '178b0921-8f85-4257-88b6-2e743b5a975c'


def canary_create_end(directory: pathlib.Path) -> Dict[str, Any]:
    """Nova 34's create.end carrying the SSH key (its keypairs) and an
    admin password in the metadata."""
    found = notification(directory, 'instance-create-end', UUID, metadata={
        'admin_pass': canaries.ADMIN_PASSWORD, 'role': 'web'})
    data = found['payload']['nova_object.data']
    data['keypairs'][0]['nova_object.data']['public_key'] = \
        canaries.KEY_DATA
    return found


class UnredactedContext(dict):
    """A request context as Nova sent it with its token, before
    oslo.messaging redacted it (Ussuri's 12.1 sends it whole; newer
    releases call ``redacted_copy()`` and drop a plain dict)."""

    def redacted_copy(self) -> 'UnredactedContext':
        return self


CONTEXT = UnredactedContext(auth_token=canaries.AUTH_TOKEN,
                            request_id='req-canary')


def _reset_services() -> None:
    dns_service.reset()
    storage_service.reset()
    netinfo_service.reset()
    db.reset()


@pytest.fixture
def services() -> Iterator[None]:
    _reset_services()
    yield
    dispatch.reset()
    _reset_services()


def _wait_dns_sent() -> None:
    """The DNS background sender has nothing left to try now."""
    sender = dns_service.service().sender
    sender.stop(wait=30)


# -- The doors --------------------------------------------------------------

@pytest.mark.parametrize('database', ['sqlite', 'postgresql'])
def test_no_canary_leaves_through_the_hooks_the_commands_or_the_state(
        bind: BindServer, tmp_path: pathlib.Path,  # noqa: F811
        caplog: pytest.LogCaptureFixture, services: None,
        request: pytest.FixtureRequest, database: str) -> None:
    """Nova's runner loads core's dispatchers through stevedore; every
    plugin handles a whole lifecycle (4 volumes, one per driver), and a
    careless handler fails at every hook; then every command runs on that
    state."""
    state = tmp_path / 'state'
    path = tmp_path / 'novahooks.conf'
    write_conf(path, bind, state)
    urls = ''
    server = None
    if database == 'postgresql':
        server = request.getfixturevalue('postgres')
        server.reset()
        url = server.url.replace(':novahooks@', ':%s@' % DB_PASSWORD)
        assert DB_PASSWORD in url
        urls = ''.join('[%s]\ndatabase_url = %s\n' % (group, url)
                       for group in ('dns', 'storage', 'netinfo'))
    path.write_text(path.read_text().replace(
        'enabled_plugins = dns', 'enabled_plugins = audit,dns,storage,'
        'netinfo,leaky\nslow_hook_threshold_ms = 0\nmetrics_dir = %s'
        % (state / 'metrics')) + urls + '[listen]\nmax_attempts = 2\n')
    config.reset()
    config.load(str(path))
    config.register_plugin_opts('dns_rfc2136', Rfc2136Backend.options)
    add_leaky()
    caplog.set_level('DEBUG')
    runner = NovaRunner()
    updates = bind.update_count()
    (inst,) = run_lifecycle(runner, bdms=factories.canary_bdms())
    failed = [r for r in runner.runs if r.outcome == 'error']
    assert {r.handler.split(':')[0] for r in failed} == {'leaky'}, failed
    assert {r.hook for r in failed} == {p.value for p in HookPoint}
    _wait_dns_sent()
    assert bind.update_count() > updates  # DNS changes went out
    metrics.write_textfile()
    assert list((state / 'metrics').glob('*.prom'))
    assert caplog.text.count('leaky:') >= 4
    assert leaks(caplog.text) == set()
    assert bind.key_secret not in caplog.text  # the real TSIG key
    assert files_leaking(state) == {}
    if server is not None:
        assert rows_leaking(server) == {}
    _reset_services()
    printed = {}
    for argv in every_command(inst.uuid, tmp_path):
        code, output = novahooks(path, *argv)
        printed[argv] = (code, output)
        assert leaks(output) == set(), (argv, code, output[-3000:])
        assert bind.key_secret not in output, argv
    assert all(output.strip() for _, output in printed.values())
    assert printed[('netinfo', 'show', inst.uuid)][0] == 0
    assert files_leaking(state) == {}
    if server is not None:
        assert rows_leaking(server) == {}


def test_no_canary_leaves_in_the_errors_of_failing_backends(
        bind: BindServer, tmp_path: pathlib.Path,  # noqa: F811
        caplog: pytest.LogCaptureFixture, services: None) -> None:
    """The DNS server refuses the TSIG key (the configured canary), the
    ledger's and netinfo's PostgreSQL is unreachable (a canary password in
    its URL): the errors are logged, the work spooled and journaled, and
    the commands fail, saying why."""
    state = tmp_path / 'state'
    path = tmp_path / 'novahooks.conf'
    write_conf(path, bind, state, secret=TSIG_SECRET)
    url = 'postgresql+psycopg2://nova:%s@127.0.0.1:%d/ledger' % (
        DB_PASSWORD, free_tcp_port())
    path.write_text(path.read_text().replace(
        'enabled_plugins = dns', 'enabled_plugins = audit,dns,storage,'
        'netinfo\nslow_hook_threshold_ms = 0\nwrite_budget_ms = 100')
        + '[storage]\ndatabase_url = %s\n[netinfo]\ndatabase_url = %s\n'
        % (url, url))
    config.reset()
    config.load(str(path))
    caplog.set_level('DEBUG')
    updates = bind.update_count()
    (inst,) = run_lifecycle(NovaRunner(), bdms=factories.canary_bdms())
    _wait_dns_sent()
    assert bind.update_count() == updates  # refused: bad signature
    text = caplog.text
    assert 'storage:' in text and 'netinfo' in text
    assert leaks(text) == set()
    assert files_leaking(state) == {}
    assert [p.name for p in state.iterdir() if 'spool' in p.name]
    _reset_services()
    outputs = []
    for argv in [('check',), ('dns', 'pending'), ('dns', 'flush'),
                 ('dns', 'check'), ('storage', 'summary'),
                 ('storage', 'history', inst.uuid), ('netinfo', 'anomalies'),
                 ('metrics',), ('db', 'sync'), ('simulate', '--live')]:
        code, output = novahooks(path, *argv)
        outputs.append((argv, code))
        assert leaks(output) == set(), (argv, output[-3000:])
    assert dict(outputs)[('check',)] != 0
    assert files_leaking(state) == {}


def test_no_canary_leaves_through_the_listener(
        samples_dir: pathlib.Path, publisher: Publisher,  # noqa: F811
        running: Any, listen_conf: pathlib.Path,  # noqa: F811
        tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture) -> None:
    """Nova 34's create.end on a real RabbitMQ, carrying the SSH key (its
    keypairs), an admin password in the metadata and the keystone token in
    its context; a plugin fails, so it is parked, retried and recorded as
    failed; its status, /metrics and the commands show it."""
    port = free_tcp_port()
    listen_conf.write_text(listen_conf.read_text().replace(
        'retry_delay = 0.1', 'retry_delay = 0.1\nmax_attempts = 2\n'
        'metrics_port = %d' % port).replace(
        'enabled_plugins = audit,dns,storage,netinfo',
        'enabled_plugins = audit,dns,storage,netinfo,failing'))
    config.reset()
    config.load(str(listen_conf))
    dispatch.handler_classes()[HookPoint.CREATE_INSTANCE].append(Failing)
    caplog.set_level('DEBUG')
    listener: Running = running()
    publisher.send(canary_create_end(samples_dir), context=CONTEXT)
    wait_until(lambda: listener.stats().get('failed') == 1, what='failed')
    state = tmp_path / 'state'
    with request.urlopen('http://127.0.0.1:%d/metrics' % port,
                         timeout=10) as answer:
        exposed = answer.read()
    assert b'novahooks' in exposed
    assert leaks(exposed) == set()
    listener.stop()
    dispatch.reset()
    assert 'failing on purpose' in caplog.text
    assert leaks(caplog.text) == set()
    failed = (state / 'listen-failed.jsonl').read_text()
    assert '"admin_pass": "***"' in failed, failed
    assert 'req-canary' in failed  # the context crossed the bus
    assert files_leaking(state) == {}
    for argv in [('listen', 'failed', '-f', 'json'), ('listen', 'status'),
                 ('metrics',), ('check',)]:
        code, output = novahooks(listen_conf, *argv)
        assert leaks(output) == set(), (argv, output[-3000:])


# -- Each layer, removed --------------------------------------------------

def _pass_through(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str,
                  value: Any) -> None:
    assert hasattr(owner, name), name  # the layer is where we think
    monkeypatch.setattr(owner, name, value)


#: Each scrubbing layer of the hook path: how to remove it, and the
#: canaries the careless handler then leaks into Nova's log.
HOOK_LAYERS: Mapping[str, Tuple[Callable[[pytest.MonkeyPatch], None],
                                Set[str]]] = {
    'the call arguments scanned (redact.SECRET_ARGS)': (
        lambda mp: _pass_through(mp, redact, 'SECRET_ARGS', ()),
        {'injected_file', 'user_data', 'key_data'}),
    "the instance's user_data and key_data scanned (INSTANCE_FIELDS)": (
        lambda mp: _pass_through(mp, redact, 'INSTANCE_FIELDS', ()),
        {'user_data', 'key_data'}),
    "block devices' connection_info scanned (SECRET_FIELDS)": (
        lambda mp: _pass_through(mp, redact, 'SECRET_FIELDS', ()),
        {'rbd_keyring', 'rbd_auth_username', 'nfs_options', 'fc_wwn'}),
    "connection_info's secret values on their own (_secret_leaves)": (
        lambda mp: _pass_through(mp, redact, '_secret_leaves',
                                 lambda text: []),
        {'rbd_keyring', 'rbd_auth_username'}),
    'user data and files decoded from base64 (_decoded)': (
        lambda mp: _pass_through(mp, redact, '_decoded', lambda text: []),
        {'user_data_plain', 'injected_file_plain'}),
    'secrets as repr and JSON escape them (_escaped)': (
        lambda mp: _pass_through(mp, redact, '_escaped',
                                 lambda secret: [secret]),
        {'rbd_keyring'}),
    "the context's token (CONTEXT_FIELDS)": (
        lambda mp: _pass_through(mp, redact, 'CONTEXT_FIELDS', ()),
        {'auth_token'}),
    'the configured secret options (configured_secrets)': (
        lambda mp: _pass_through(mp, redact, 'configured_secrets',
                                 lambda conf: []),
        {'tsig_key_secret'}),
    'URL passwords (mask_url)': (
        lambda mp: _pass_through(mp, redact, 'mask_url', lambda text: text),
        {'stray_url'}),
    "oslo's key=value masking (mask_key_values)": (
        lambda mp: _pass_through(mp, redact, 'mask_key_values',
                                 lambda text: text),
        {'stray_dsn'}),
    "the guard's scrubbing of a failure (isolation._scrubbed)": (
        lambda mp: _pass_through(mp, isolation, '_scrubbed',
                                 lambda render, value, secrets:
                                 render(value)),
        # (Nova's own repr masks connection_info's oslo password keys.)
        set(ALL) - {'database_url', 'iscsi_auth_password',
                    'iscsi_discovery_auth_password', 'rbd_secret_uuid'}),
}


def _leaky_lifecycle(write_config: WriteConfig,
                     caplog: pytest.LogCaptureFixture,
                     release: int = 21) -> Set[str]:
    """The careless handler at every hook point of a lifecycle (4
    volumes; Nova ``release``'s argument shapes): the canaries in what was
    logged."""
    write_config(enabled_plugins='audit,leaky',
                 extra='[dns_rfc2136]\nkey_secret = %s\n' % TSIG_SECRET)
    config.register_plugin_opts('dns_rfc2136', Rfc2136Backend.options)
    add_leaky()
    caplog.set_level('DEBUG')
    try:
        runner = NovaRunner()
        run_lifecycle(runner, release=release,
                      bdms=factories.canary_bdms())
    finally:
        dispatch.reset()
    # create, build, delete, and the network info of build, heal, delete
    assert sum(r.outcome == 'error' for r in runner.runs) == 6
    # one ERROR line each (and its traceback at DEBUG, searched too)
    assert sum('RuntimeError: cannot handle' in r.getMessage()
               for r in caplog.records if r.levelno == logging.ERROR) == 6
    normalized = pathlib.Path(config.state_dir()) / 'normalized.jsonl'
    assert len(normalized.read_text().splitlines()) == 6
    return leaks(caplog.text) | leaks(normalized.read_bytes())


@pytest.mark.parametrize('release', RELEASES)
def test_the_hook_path_leaks_nothing_with_every_layer_in_place(
        write_config: WriteConfig, caplog: pytest.LogCaptureFixture,
        release: int) -> None:
    assert _leaky_lifecycle(write_config, caplog, release) == set()


@pytest.mark.parametrize('layer', sorted(HOOK_LAYERS))
def test_each_layer_of_the_hook_path_is_load_bearing(
        write_config: WriteConfig, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch, layer: str) -> None:
    remove, leaked = HOOK_LAYERS[layer]
    remove(monkeypatch)
    found = _leaky_lifecycle(write_config, caplog)
    assert leaked <= found, (layer, sorted(leaked - found))


#: Each layer of what the listener keeps of a message (its parked and
#: failed journals): how to remove it, and the canary then kept.
LISTENER_LAYERS: Mapping[str, Tuple[Callable[[pytest.MonkeyPatch], None],
                                    str]] = {
    "the context's kept fields (message._CONTEXT_KEPT)": (
        lambda mp: _pass_through(mp, notify_message, '_CONTEXT_KEPT',
                                 notify_message._CONTEXT_KEPT
                                 + ('auth_token',)),
        'auth_token'),
    'the payload fields dropped (message._PAYLOAD_DROPPED)': (
        lambda mp: _pass_through(mp, notify_message, '_PAYLOAD_DROPPED',
                                 ()),
        'key_data'),
    "the metadata's password-like values (redact.mask_mapping)": (
        lambda mp: _pass_through(mp, redact, 'mask_mapping', dict),
        'admin_password'),
}


def _parked_canaries(write_config: WriteConfig, directory: pathlib.Path,
                     tmp_path: pathlib.Path) -> Set[str]:
    """A create.end carrying the canaries, received by the listener's
    endpoint and parked (a plugin fails): the canaries in its state."""
    from novahooks_core.notify.endpoint import NotificationEndpoint
    from novahooks_core.notify.options import OPTS
    from novahooks_core.notify.parking import failed_journal
    state = tmp_path / 'state'
    write_config(enabled_plugins='audit,failing', state_dir=state,
                 extra='[listen]\nmax_attempts = 1\n')
    dispatch.handler_classes()[HookPoint.CREATE_INSTANCE].append(Failing)
    try:
        found = canary_create_end(directory)
        target = NotificationEndpoint(
            config.register_plugin_opts('listen', OPTS), failed_journal())
        target.info(CONTEXT, found['publisher_id'], found['event_type'],
                    found['payload'],
                    {'message_id': 'm-1', 'timestamp': '2026-01-01'})
    finally:
        dispatch.reset()
    kept = (state / 'listen-failed.jsonl').read_text()
    assert 'req-canary' in kept and 'failing:create_instance' in kept
    return set().union(*files_leaking(state).values())


def test_the_listener_keeps_no_canary_with_every_layer_in_place(
        write_config: WriteConfig, samples_dir: pathlib.Path,  # noqa: F811
        tmp_path: pathlib.Path) -> None:
    assert _parked_canaries(write_config, samples_dir, tmp_path) == set()


@pytest.mark.parametrize('layer', sorted(LISTENER_LAYERS))
def test_each_layer_of_the_listener_is_load_bearing(
        write_config: WriteConfig, samples_dir: pathlib.Path,  # noqa: F811
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
        layer: str) -> None:
    remove, leaked = LISTENER_LAYERS[layer]
    remove(monkeypatch)
    assert leaked in _parked_canaries(write_config, samples_dir, tmp_path)


#: A library logging, after the command line set up logging: its line
#: carries a URL's password and a configured secret on its own.
LIBRARY_LOGS = '''
import logging, sys
from novahooks_core.cli.app import NovaHooksApp
from novahooks_core.containment import redact
if sys.argv[1] == 'removed':
    redact.ScrubbingFormatter.format = (
        lambda self, record: self.inner.format(record))
NovaHooksApp().run(['check'])
logging.getLogger('kombu.connection').error(
    'cannot reach amqp://nova:%s@rabbit.example:5672//; '
    'the database refused %s', sys.argv[2], sys.argv[3])
'''


@pytest.mark.parametrize('formatter', ['in place', 'removed'])
def test_the_command_line_scrubs_what_any_library_logs(
        tmp_path: pathlib.Path, formatter: str) -> None:
    """The log formatter the command line installs
    (``redact.ScrubbingFormatter``) is the only layer between a library's
    log line and the operator's terminal."""
    path = tmp_path / 'novahooks.conf'
    path.write_text(
        '[DEFAULT]\nstate_dir = %s\nenabled_plugins = audit,storage\n'
        '[storage]\ndatabase_url = postgresql+psycopg2://nova:%s@127.0.0.1:'
        '%d/ledger\n' % (tmp_path / 'state', DB_PASSWORD, free_tcp_port()))
    done = subprocess.run(
        [sys.executable, '-c', LIBRARY_LOGS, formatter, URL_PASSWORD,
         DB_PASSWORD], stdin=subprocess.DEVNULL, capture_output=True,
        text=True, timeout=120,
        env=dict(os.environ, NOVAHOOKS_CONFIG=str(path)))
    printed = done.stdout + done.stderr
    assert 'cannot reach amqp://nova:' in printed, printed
    expected = (set() if formatter == 'in place'
                else {'stray_url', 'database_url'})
    assert leaks(printed) == expected, printed
