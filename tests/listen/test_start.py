"""What ``novahooks listen`` (the installed console script, on a real
RabbitMQ) says as it starts (issue #27, item 5): each section and option
nothing reads, one WARNING, and it runs; a value that cannot be read or
an enabled plugin that is not installed, one ERROR each, and it does not
start (exit 2), without a traceback."""

import pathlib
import re
import subprocess
from typing import List

from tests.listen.conftest import consumers, pool_of, wait_until
from tests.listen.test_stop import start, terminate
from tests.rabbit import RabbitServer
from tests.test_operator_errors import plain


def add_to_default(config_file: pathlib.Path, text: str) -> None:
    config_file.write_text(config_file.read_text().replace(
        '[DEFAULT]\n', '[DEFAULT]\n' + text, 1))


def test_an_unknown_option_is_warned_of_and_the_listener_runs(
        listen_conf: pathlib.Path, rabbit: RabbitServer,
        listeners: List['subprocess.Popen[str]']) -> None:
    add_to_default(listen_conf, 'send_budgt_ms = 3\n')
    listen_conf.write_text(listen_conf.read_text() + '[dnss]\nzone = x.\n')
    listeners.append(start(listen_conf))
    wait_until(lambda: consumers(rabbit.url, pool_of(listen_conf)) == 1,
               60, 'the listener consuming')
    _, output = terminate(listeners[-1])
    output = plain(output)
    assert listeners[-1].returncode == 0, output
    warned = re.findall(r' WARNING \S+ \[-\] novahooks listen: (.*)$',
                        output, flags=re.M)
    assert len(warned) == 2, output
    assert warned[0].startswith('[DEFAULT] send_budgt_ms: unknown option')
    assert warned[1] == '[dnss]: unknown section (did you mean dns?)'

    assert 'Traceback' not in output


def test_a_bad_value_or_a_plugin_not_installed_stops_it_at_start(
        listen_conf: pathlib.Path, rabbit: RabbitServer,
        listeners: List['subprocess.Popen[str]']) -> None:
    text = listen_conf.read_text().replace(
        'enabled_plugins = audit,dns,storage,netinfo',
        'enabled_plugins = audit,dns,storage,netinfo,netinf')
    assert text != listen_conf.read_text()
    listen_conf.write_text(text.replace('[dns]\n', '[dns]\nttl = soon\n', 1))
    line = [n for n, t in enumerate(listen_conf.read_text().splitlines(), 1)
            if t == 'ttl = soon'][0]
    listeners.append(start(listen_conf))
    out, err = listeners[-1].communicate(timeout=120)
    err = plain(err)
    assert listeners[-1].returncode == 2, err
    errors = re.findall(r' ERROR \S+ \[-\] novahooks listen: (.*)$', err,
                        flags=re.M)
    assert errors == [
        "%s:%d [dns] ttl: 'soon' is not a number (ttl, an integer "
        "\u2265 1)" % (listen_conf, line),
        'enabled_plugins names netinf: no installed plugin has that name '
        '(did you mean netinfo?)'], err
    assert err.strip().splitlines()[-1] == (
        'novahooks: listen not started: the configuration has the errors '
        'above')
    assert 'Traceback' not in err
    assert consumers(rabbit.url, pool_of(listen_conf)) == 0
