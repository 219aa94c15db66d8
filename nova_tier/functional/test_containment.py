"""Containment inside Nova 21's own hook runner: nothing novahooks does
while Nova reads ``pre``/``post`` reaches Nova, the default configuration
adds nothing to the periodic heal, and the exported FatalHookException is
the one Nova raises."""

import time

from nova import context as nova_context
from nova import hooks

from nova_tier.functional.base import NovaHooksTestCase
import novahooks_core
from novahooks_core.containment import timing
from novahooks_core.testing import factories


class BrokenHandlerTest(NovaHooksTestCase):
    """A novahooks.hooks entry point that cannot load and a handler class
    whose constructor raises (nova_tier/recorder) are installed."""

    plugins = 'audit,broken'

    def test_a_broken_handler_never_fails_nova_and_others_still_run(
            self) -> None:
        self.write_config(extra='[audit]\nnetwork_info = true\n')
        first = self.boot(networks='auto')
        second = self.boot(networks='auto')
        for server in (first, second):
            self.assertEqual('ACTIVE', server['status'])
            self._delete_server(server)
        logs = self.logs()
        self.assertEqual(1, logs.count(
            'cannot build handler broken.instance_network_info'), logs)
        self.assertEqual(1, logs.count(
            'cannot load handler entry point broken.build_instance'))
        stats = timing.snapshot()
        self.assertEqual(1, stats[
            'broken:instance_network_info:post'].errors)
        # The other plugin behind the same dispatchers ran every time.
        self.assertGreaterEqual(
            stats['audit:instance_network_info:post'].calls, 4)
        self.assertGreaterEqual(stats['audit:build_instance:post'].calls, 2)
        self.assertNotIn('Exception running instance_network_info', logs)


class QuietHealTest(NovaHooksTestCase):
    """Nova 21 logs "Hooks are deprecated" at WARNING for every hook with a
    truthy pre/post, on every call, the periodic heal included."""

    plugins = 'audit'

    def heal_warnings(self) -> int:
        before = len(self.logs())
        self.compute.manager._heal_instance_info_cache(
            nova_context.get_admin_context())
        return self.logs()[before:].count('Hooks are deprecated')

    def test_the_default_configuration_adds_no_line_to_the_heal(
            self) -> None:
        self.boot(networks='auto')
        # The server is ACTIVE before build_instance post has run (Nova
        # builds in green threads): its warning must not count as the heal's.
        deadline = time.monotonic() + 20.0
        while 'novahooks audit: build of' not in self.logs():
            self.assertLess(time.monotonic(), deadline, 'no build post')
            time.sleep(0.05)
        self.assertEqual(0, self.heal_warnings())
        # The heal does reach the hooks: with audit told to handle it,
        # Nova's warnings appear.
        self.write_config(extra='[audit]\nnetwork_info = true\n')
        self.assertGreaterEqual(self.heal_warnings(), 1)


class FatalExceptionTest(NovaHooksTestCase):
    """``novahooks_core.FatalHookException`` catches what a veto raises
    through Nova's own ``add_hook`` runner."""

    plugins = 'recorder'

    def test_the_exported_class_is_nova_s(self) -> None:
        self.write_config(allow_veto='true',
                          extra='[recorder]\nveto = create_instance\n')
        self.assertIs(hooks.FatalHookException,
                      novahooks_core.FatalHookException)

        @hooks.add_hook('create_instance')
        def create(*args: object, **kwargs: object) -> object:
            return [], 'r-1'
        args, kwargs = factories.create_instance_args()
        error = self.assertRaises(novahooks_core.FatalHookException,
                                  create, *args, **kwargs)
        self.assertIn('recorder refuses create_instance', str(error))
