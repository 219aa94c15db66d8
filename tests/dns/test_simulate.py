"""``novahooks simulate`` as an operator runs it (the installed console
script): a safe smoke test by default, bounded output, honest exit codes,
validated arguments. DNS configured for a real BIND."""

import json
import os
import pathlib
import pty
import re
import subprocess
import sys
from typing import List, Tuple

from tests.dns.conftest import BindServer, write_conf
from tests.test_operator_errors import plain

PLUGINS = 'audit,dns,storage,netinfo'


def simulate(conf: pathlib.Path, *args: str, **popen: object
             ) -> Tuple[int, str, str]:
    result = subprocess.run(
        [sys.executable, '-m', 'novahooks_core.cli.app', '--config-file',
         str(conf), 'simulate'] + list(args),
        capture_output=True, text=True, timeout=300)
    return result.returncode, result.stdout, result.stderr


def configured(tmp_path: pathlib.Path, bind: BindServer,
               extra: str = '') -> Tuple[pathlib.Path, pathlib.Path]:
    """All plugins, DNS by RFC 2136 to BIND, a state dir not made yet, and
    a netinfo JSON-lines copy outside it."""
    conf, state = tmp_path / 'novahooks.conf', tmp_path / 'state'
    write_conf(conf, bind, state)
    conf.write_text(conf.read_text().replace(
        'enabled_plugins = dns', 'enabled_plugins = ' + PLUGINS)
        + '\n[netinfo]\njsonl_path = %s\n' % (tmp_path / 'netinfo.jsonl')
        + extra)
    return conf, state


def test_simulate_touches_nothing_configured_unless_live(
        tmp_path: pathlib.Path, bind: BindServer) -> None:
    conf, state = configured(tmp_path, bind)
    before = bind.update_count()
    code, out, err = simulate(conf, '--count', '2')
    assert code == 0, err
    assert 'throw-away state dir' in err and 'DNS to a hosts file' in err
    assert 'delete_instance' in out
    assert bind.update_count() == before  # no UPDATE reached BIND
    assert not state.exists()
    assert not (tmp_path / 'netinfo.jsonl').exists()
    scratch = err.split('throw-away state dir, ')[1].split(' ')[0]
    assert not os.path.exists(scratch)  # removed at the end

    code, out, err = simulate(conf, '--count', '2', '--live')
    assert code == 0, err
    assert 'throw-away' not in err
    assert bind.update_count() > before
    assert (state / 'storage.sqlite').exists()
    assert (tmp_path / 'netinfo.jsonl').exists()


def test_simulate_live_sends_what_it_left_to_the_background_or_says_so(
        tmp_path: pathlib.Path, bind: BindServer) -> None:
    """Every change left to the background sender (as a slow answer from
    Knot leaves it) is sent before ``--live`` exits; one the server cannot
    take stays queued, and simulate says so."""
    conf, state = configured(tmp_path, bind, '[dns]\nsend_budget_ms = 0\n'
                             'retry_initial_seconds = 0.01\n')

    def pending() -> str:
        return subprocess.run(
            [sys.executable, '-m', 'novahooks_core.cli.app', '--config-file',
             str(conf), 'dns', 'pending', '-f', 'value'],
            capture_output=True, text=True, timeout=120).stdout

    code, _, err = simulate(conf, '--count', '3', '--live')
    assert code == 0, err
    assert 'not sent yet' not in err
    assert pending().strip() == ''
    bind.stop()
    try:
        code, _, err = simulate(conf, '--count', '1', '--live',
                                '--plugins', 'dns')
    finally:
        bind.start()
    assert 'DNS change(s) not sent yet: kept in the outbox' in err, err
    assert pending().strip() != ''


def test_simulate_output_stays_bounded_and_details_are_in_json(
        tmp_path: pathlib.Path, bind: BindServer) -> None:
    conf, _ = configured(tmp_path, bind)
    code, out, err = simulate(conf, '--count', '200')
    assert code == 0, err
    rows = [line for line in out.splitlines() if line.startswith('| ')]
    header, body = rows[0], rows[1:]
    assert 'Calls' in header and 'Outcomes' in header
    assert len(body) <= 25  # one per hook, phase and handler
    assert max(len(line) for line in out.splitlines()) < 250
    builds = [line for line in body if 'dns:build_instance:post' in line]
    assert len(builds) == 1 and '|   200 |' in builds[0]
    code, out, _ = simulate(conf, '--count', '3', '-f', 'json')
    details = json.loads(out)
    assert code == 0
    assert sum(r['Handler'] == 'dns:build_instance:post'
               for r in details) == 3


def test_simulate_exits_1_when_a_handler_errored_and_a_bad_value_says_once(
        tmp_path: pathlib.Path, bind: BindServer) -> None:
    conf, _ = configured(tmp_path, bind, extra='')
    conf.write_text(conf.read_text().replace(
        '[dns]\n', '[dns]\nttl = abc\n', 1))
    code, out, err = simulate(conf, '--plugins', 'audit,dns')
    assert code == 1, (out, err)
    assert 'error' in out
    # A bad value switches the plugin off with one ERROR naming the
    # option, not a traceback per call.
    assert 'Traceback' not in err
    said = "plugin dns switched off: %s:%d [dns] ttl: 'abc' is not a " \
        "number (ttl, an integer \u2265 1); fix the value and restart" % (
            conf, conf.read_text().splitlines().index('ttl = abc') + 1)
    assert [line.split('novahooks: ', 1)[1] for line in plain(
        err).splitlines() if 'ttl' in line] == [said], err


def test_simulate_validates_its_arguments(tmp_path: pathlib.Path,
                                          bind: BindServer) -> None:
    conf, _ = configured(tmp_path, bind)
    for count in ('0', '-3', 'many'):
        code, _, err = simulate(conf, '--count', count)
        assert code == 2 and 'whole number >= 1' in err, err
    code, _, err = simulate(conf, '--plugins', 'audit,dnz')
    assert code == 2
    assert 'unknown plugin(s) dnz (did you mean dns?)' in err
    assert 'Traceback' not in err


def test_simulate_shows_progress_on_a_terminal(
        tmp_path: pathlib.Path, bind: BindServer) -> None:
    conf, _ = configured(tmp_path, bind)
    # Every hook call logs a WARNING (slow): each on a line of its own,
    # above the progress line, never glued to it.
    conf.write_text(conf.read_text().replace(
        '[DEFAULT]\n', '[DEFAULT]\nslow_hook_threshold_ms = 0.001\n', 1))
    main, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, '-m', 'novahooks_core.cli.app', '--config-file',
         str(conf), 'simulate', '--count', '60', '--plugins', 'audit'],
        stdout=subprocess.PIPE, stderr=secondary)
    os.close(secondary)
    seen: List[bytes] = []
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the terminal closed: the process is done
            break
        if not chunk:
            break
        seen.append(chunk)
    out, _ = process.communicate(timeout=300)
    os.close(main)
    text = b''.join(seen).decode()
    assert process.returncode == 0, text
    assert re.search(r'100% \(120 of 120 builds and deletes\), \d+/s, '
                     r'done in \d+ s', text), text
    assert re.search(r'\(60 of 120 builds and deletes\), \d+/s, about \d+ '
                     r's left', text), text
    assert b'simulate:' not in out  # never on standard output
    # What the terminal shows: each line as the last carriage return and
    # clear-to-end-of-line leave it.
    shown = [line.split('\r')[-1] for line in text.replace(
        '\x1b[K', '').splitlines()]
    warnings = [line for line in shown if 'WARNING' in line]
    assert len(warnings) > 120, text[-2000:]
    assert all(line.startswith('20') for line in warnings), warnings[:3]
    assert not any('simulate:' in line for line in warnings)
