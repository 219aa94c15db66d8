"""A Nova 21 functional test case with novahooks and the recorder enabled.

Nova's own harness (API, conductor, scheduler and compute in one process,
fake virt driver, SQLite, Neutron and Placement fixtures) drives our
installed ``nova.hooks`` entry points through Nova's unmodified runner.
"""

import base64
import json
import os
import time
from typing import Any, Dict, List

import fixtures
from nova import hooks
from nova.tests.functional import integrated_helpers

from novahooks_core import config
from novahooks_core.containment import timing
from novahooks_core.hooks import dispatch
from novahooks_core.hooks.seen import SEEN
from novahooks_core.testing import SECRETS

USER_DATA = base64.b64encode(SECRETS['user_data'].encode()).decode()


class NovaHooksTestCase(integrated_helpers._IntegratedTestBase):
    """Boots servers through the REST API with our hooks installed."""

    microversion = '2.37'   # networks='auto'
    plugins = 'audit,recorder'

    def setUp(self) -> None:
        self.state = self.useFixture(fixtures.TempDir()).path
        self.useFixture(fixtures.EnvironmentVariable(
            config.CONFIG_ENV, os.path.join(self.state, 'novahooks.conf')))
        self.write_config()
        hooks.reset()
        timing.reset()
        dispatch.reset()
        SEEN.clear()
        self.addCleanup(dispatch.reset)
        self.addCleanup(SEEN.clear)
        self.addCleanup(hooks.reset)
        self.addCleanup(config.reset)
        super().setUp()

    def write_config(self, extra: str = '', **defaults: Any) -> None:
        defaults.setdefault('enabled_plugins', self.plugins)
        defaults.setdefault('state_dir', self.state)
        lines = ['[DEFAULT]'] + ['%s = %s' % kv for kv in defaults.items()]
        with open(os.environ[config.CONFIG_ENV], 'w') as stream:
            stream.write('\n'.join(lines) + '\n' + extra)
        config.reset()

    def boot(self, expected_state: str = 'ACTIVE', **server: Any
             ) -> Dict[str, Any]:
        """Boot with canary secrets in adminPass and user_data."""
        body = self._build_server(networks=server.pop('networks', 'auto'))
        body.update(adminPass=SECRETS['admin_password'],
                    user_data=USER_DATA)
        body.update(server)
        created = self.api.post_server({'server': body})
        return self._wait_for_state_change(created, expected_state)

    def events(self) -> List[Dict[str, Any]]:
        """What the recorder hook saw, in order, normalized by our core."""
        path = os.path.join(self.state, 'events.jsonl')
        if not os.path.exists(path):
            return []
        with open(path) as stream:
            return [json.loads(line) for line in stream]

    def seen(self) -> List[str]:
        return ['%s:%s' % (e['hook'], e['phase']) for e in self.events()]

    def wait_for_event(self, where: str, count: int = 1,
                       timeout: float = 20.0) -> None:
        """Wait until the recorder saw ``where`` (``hook:phase``) ``count``
        times: Nova's compute manager runs builds in green threads, so a
        server can be ACTIVE before ``build_instance`` post has run."""
        deadline = time.monotonic() + timeout
        while self.seen().count(where) < count:
            if time.monotonic() > deadline:
                self.fail('%s seen %d times, expected %d: %s' % (
                    where, self.seen().count(where), count, self.seen()))
            time.sleep(0.05)

    def logs(self) -> str:
        return str(self.stdlog.logger.output)

    def assertNoSecrets(self) -> None:
        """No canary in Nova's captured logs or anywhere in our state."""
        texts = {'logs': self.logs()}
        for root, _, files in os.walk(self.state):
            for name in files:
                with open(os.path.join(root, name), 'rb') as stream:
                    texts[name] = stream.read().decode('utf-8', 'replace')
        for where, text in texts.items():
            for secret in list(SECRETS.values()) + [USER_DATA]:
                self.assertNotIn(secret, text, where)
