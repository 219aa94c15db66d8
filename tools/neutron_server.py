"""Serve a real OpenStack Neutron API (28.x, 2026.1) on 127.0.0.1 for tests.

Run with the interpreter of the venv tools/neutron-env.sh builds::

    .venvs/neutron/bin/python tools/neutron_server.py \\
        --dir DIR --port PORT --transport-url rabbit://guest:guest@...:P/

Everything lives in DIR: the config files this script writes
(DIR/neutron.conf, DIR/ml2_conf.ini), the SQLite database
(DIR/neutron.sqlite, whose schema is made from Neutron's models and stamped
at the migration heads the first time only: `neutron-db-manage upgrade`
does not work on SQLite), Neutron's state and lock directories, the log
(DIR/neutron.log) and DIR/server.json, written once the API answers
``GET /v2.0/networks``::

    {"url": "http://127.0.0.1:PORT", "pid": PID, "port": PORT, ...}

Neutron runs ML2 (flat/vlan/local types, local tenant networks, the
``logger`` mechanism driver: no agents, so ports end ``binding_failed`` and
floating IPs stay DOWN) and the L3 ``router`` service plugin, without
authentication (``noauth``: put ``project_id`` in request bodies), and
publishes its notifications (messagingv2, topic ``notifications``, exchange
``neutron``) on the transport URL. Its WSGI app,
``neutron.wsgi.api:application``, is served by a threaded wsgiref server.
SIGTERM or SIGINT stop it cleanly (exit status 0).
"""

import argparse
import json
import logging
import os
import signal
import socketserver
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional
import urllib.request
from wsgiref import simple_server

LOG = logging.getLogger("novahooks.neutron_server")

NEUTRON_CONF = """\
[DEFAULT]
core_plugin = ml2
service_plugins = router
auth_strategy = noauth
api_paste_config = {paste}
bind_host = 127.0.0.1
bind_port = {port}
host = novahooks-neutron
state_path = {dir}/state
transport_url = {transport_url}
notify_nova_on_port_status_changes = False
notify_nova_on_port_data_changes = False
dhcp_agent_notification = False
allow_overlapping_ips = True
api_workers = 0
rpc_workers = 0
log_file = {dir}/neutron.log
debug = {debug}
use_stderr = False

[database]
connection = sqlite:///{dir}/neutron.sqlite

[oslo_concurrency]
lock_path = {dir}/lock

[oslo_messaging_notifications]
driver = messagingv2
topics = notifications

[oslo_messaging_rabbit]
amqp_durable_queues = {durable}

[oslo_policy]
enforce_new_defaults = False
enforce_scope = False
"""

ML2_CONF = """\
[ml2]
type_drivers = flat,vlan,local
tenant_network_types = local
mechanism_drivers = logger
extension_drivers = port_security

[ml2_type_flat]
flat_networks = *

[ml2_type_vlan]
network_vlan_ranges = physnet1:100:200
"""


class ThreadingWSGIServer(socketserver.ThreadingMixIn,
                          simple_server.WSGIServer):
    """wsgiref's server, one thread per request."""

    daemon_threads = True
    allow_reuse_address = True


class QuietHandler(simple_server.WSGIRequestHandler):
    """Request handler logging to Neutron's log instead of stderr."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Log one request line."""
        LOG.info("%s %s", self.address_string(), format % args)


def write_configs(directory: str, port: int, transport_url: str,
                  debug: bool, durable: bool = False) -> List[str]:
    """Write DIR/neutron.conf and DIR/ml2_conf.ini; return their paths."""
    paste = os.path.join(sys.prefix, "etc", "neutron", "api-paste.ini")
    if not os.path.exists(paste):
        raise SystemExit("missing %s (is neutron installed in %s?)"
                         % (paste, sys.prefix))
    for sub in ("state", "lock"):
        os.makedirs(os.path.join(directory, sub), exist_ok=True)
    conf = os.path.join(directory, "neutron.conf")
    ml2 = os.path.join(directory, "ml2_conf.ini")
    with open(conf, "w") as f:
        f.write(NEUTRON_CONF.format(
            paste=paste, port=port, dir=directory,
            transport_url=transport_url, debug=debug, durable=durable))
    with open(ml2, "w") as f:
        f.write(ML2_CONF)
    return [conf, ml2]


def create_schema(directory: str, config_files: List[str]) -> None:
    """Make the SQLite schema from Neutron's models and stamp the heads.

    Done once per DIR: a database that was stamped is kept as it is.
    """
    db = os.path.join(directory, "neutron.sqlite")
    done = os.path.join(directory, "neutron.sqlite.stamped")
    if os.path.exists(done) and os.path.exists(db):
        return
    if os.path.exists(db):
        os.unlink(db)
    from neutron.db.migration.models import head
    import sqlalchemy

    engine = sqlalchemy.create_engine("sqlite:///" + db)
    head.get_metadata().create_all(engine)
    engine.dispose()
    manage = os.path.join(os.path.dirname(sys.executable),
                          "neutron-db-manage")
    cmd = [manage]
    for path in config_files:
        cmd += ["--config-file", path]
    cmd += ["stamp", "heads"]
    with open(os.path.join(directory, "neutron.log"), "a") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=log)
    with open(done, "w") as f:
        f.write("stamped\n")


def load_app(config_files: List[str]) -> Callable[..., Any]:
    """Import neutron.wsgi.api, which reads its config from sys.argv."""
    # neutron.server._init_configuration() parses sys.argv[1:] (plus the
    # default files named by OS_NEUTRON_CONFIG_DIR/OS_NEUTRON_CONFIG_FILES).
    os.environ["OS_NEUTRON_CONFIG_DIR"] = os.path.dirname(config_files[0])
    os.environ["OS_NEUTRON_CONFIG_FILES"] = ";".join(
        os.path.basename(p) for p in config_files)
    argv = [sys.argv[0]]
    for path in config_files:
        argv += ["--config-file", path]
    sys.argv = argv
    from neutron.wsgi import api

    if api.application is None:
        raise SystemExit("neutron.wsgi.api did not make an application")
    app: Callable[..., Any] = api.application
    return app


def wait_ready(url: str, server_thread: threading.Thread,
               timeout: float = 60.0) -> None:
    """Wait until ``GET /v2.0/networks`` answers 200."""
    deadline = time.monotonic() + timeout
    last: Optional[BaseException] = None
    while time.monotonic() < deadline:
        if not server_thread.is_alive():
            raise SystemExit("the WSGI server thread died")
        try:
            with urllib.request.urlopen(url + "/v2.0/networks",
                                        timeout=10) as resp:
                if resp.status == 200:
                    return
        except OSError as exc:
            last = exc
        time.sleep(0.2)
    raise SystemExit("Neutron did not answer in %s s: %s" % (timeout, last))


def write_json_atomic(path: str, data: Dict[str, Any]) -> None:
    """Write JSON to path through a rename."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
        f.write("\n")
    os.replace(tmp, path)


def main(argv: Optional[List[str]] = None) -> int:
    """Parse arguments, prepare DIR, serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--transport-url", required=True)
    parser.add_argument("--debug", action="store_true",
                        help="Neutron debug logging")
    parser.add_argument("--durable-queues", action="store_true",
                        help="[oslo_messaging_rabbit] amqp_durable_queues: "
                             "its exchanges durable, as its consumers' "
                             "must be")
    args = parser.parse_args(argv)
    directory = os.path.abspath(args.dir)
    os.makedirs(directory, exist_ok=True)
    info = os.path.join(directory, "server.json")
    if os.path.exists(info):
        os.unlink(info)

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    started = time.monotonic()
    config_files = write_configs(directory, args.port, args.transport_url,
                                 args.debug, args.durable_queues)
    create_schema(directory, config_files)
    app = load_app(config_files)

    httpd = simple_server.make_server(
        "127.0.0.1", args.port, app,
        server_class=ThreadingWSGIServer, handler_class=QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever,
                              kwargs={"poll_interval": 0.2},
                              name="wsgi", daemon=True)
    thread.start()
    url = "http://127.0.0.1:%d" % args.port
    wait_ready(url, thread)
    write_json_atomic(info, {
        "url": url, "pid": os.getpid(), "port": args.port,
        "transport_url": args.transport_url,
        "config_files": config_files,
        "log": os.path.join(directory, "neutron.log"),
        "start_seconds": round(time.monotonic() - started, 1),
    })
    LOG.info("novahooks: Neutron API ready on %s", url)
    print("ready", url, flush=True)

    while not stop.wait(0.5):
        if not thread.is_alive():
            LOG.error("novahooks: the WSGI server thread died")
            return 1
    LOG.info("novahooks: stopping")
    httpd.shutdown()
    httpd.server_close()
    try:
        os.unlink(info)
    except FileNotFoundError:
        pass
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # Non-daemon threads (oslo.messaging's) must not keep the process up.
    os._exit(code)
