"""Configuration: file selection, defaults, plugin groups, sample."""

import os
import pathlib

from oslo_config import cfg
import pytest

from novahooks_core import config, plugin
from tests.conftest import WriteConfig


def test_defaults_when_the_default_file_is_absent(
        monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    monkeypatch.delenv(config.CONFIG_ENV)
    monkeypatch.setattr(config, 'DEFAULT_CONFIG_FILE',
                        str(tmp_path / 'absent.conf'))
    conf = config.get()
    assert conf.enabled_plugins == ['audit']
    assert conf.allow_veto is False
    assert conf.slow_hook_threshold_ms == 100.0
    assert config.is_enabled('audit') and not config.is_enabled('dns')
    assert config.load_error() is None


def test_file_choice_cli_then_env_then_default(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.CONFIG_ENV, '/from/env.conf')
    assert config.config_file('/from/cli.conf') == ('/from/cli.conf', True)
    assert config.config_file() == ('/from/env.conf', True)
    monkeypatch.delenv(config.CONFIG_ENV)
    assert config.config_file() == (config.DEFAULT_CONFIG_FILE, False)


def test_hooks_read_the_default_file_then_its_d_directory(
        monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    """Inside Nova (config.get): the default file, then the *.conf files
    of the directory beside it named after it with .d, in name order."""
    monkeypatch.delenv(config.CONFIG_ENV)
    base = tmp_path / 'etc' / 'novahooks.conf'
    monkeypatch.setattr(config, 'DEFAULT_CONFIG_FILE', str(base))
    drop_in = tmp_path / 'etc' / 'novahooks.conf.d'
    drop_in.mkdir(parents=True)
    (drop_in / '20-host.conf').write_text(
        '[DEFAULT]\nslow_hook_threshold_ms = 20\n')
    (drop_in / '10-site.conf').write_text(
        '[DEFAULT]\nenabled_plugins = audit,mine\n'
        'slow_hook_threshold_ms = 10\n')
    conf = config.get()  # no default file: built-in defaults, then .d
    assert conf.slow_hook_threshold_ms == 20.0
    assert config.enabled_plugins() == frozenset(['audit', 'mine'])
    base.write_text('[DEFAULT]\nallow_veto = true\n'
                    'slow_hook_threshold_ms = 1\n')
    config.reset()
    assert config.get().allow_veto is True
    assert config.get().slow_hook_threshold_ms == 20.0
    assert config.files_read() == [str(base), str(drop_in / '10-site.conf'),
                                   str(drop_in / '20-host.conf')]
    assert config.load_error() is None


def test_a_named_file_must_exist(tmp_path: pathlib.Path) -> None:
    with pytest.raises(cfg.ConfigFilesNotFoundError):
        config.load(str(tmp_path / 'missing.conf'))


def test_values_are_read_and_validated(write_config: WriteConfig,
                                       tmp_path: pathlib.Path) -> None:
    write_config(enabled_plugins='audit, mine', allow_veto='true',
                 slow_hook_threshold_ms='12.5')
    assert config.enabled_plugins() == frozenset(['audit', 'mine'])
    assert config.get().allow_veto is True
    assert config.get().slow_hook_threshold_ms == 12.5
    with pytest.raises(cfg.ConfigFileValueError):
        write_config(slow_hook_threshold_ms='-1')


def test_state_dir_is_expanded_and_private(write_config: WriteConfig,
                                           tmp_path: pathlib.Path) -> None:
    write_config(state_dir=tmp_path / 'st' / 'deep')
    path = config.state_dir()
    assert path == str(tmp_path / 'st' / 'deep')
    assert os.stat(path).st_mode & 0o777 == 0o700


def test_plugin_options_live_in_their_group(write_config: WriteConfig
                                            ) -> None:
    write_config(extra='[mine]\nlimit = 7\n')
    conf = config.register_plugin_opts('mine', [cfg.IntOpt('limit',
                                                           default=1)])
    assert conf.mine.limit == 7


def test_audit_plugin_is_installed_and_loads() -> None:
    assert 'audit' in plugin.installed()
    assert plugin.load('audit').name == 'audit'


def test_first_use_from_many_threads_loads_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time
    real_load, loads = config.load, []

    def slow_load(*args: object, **kwargs: object) -> cfg.ConfigOpts:
        loads.append(1)
        time.sleep(0.01)  # widen any race window
        return real_load(*args, **kwargs)

    monkeypatch.setattr(config, 'load', slow_load)
    barrier = threading.Barrier(16)
    seen = []

    def first_use() -> None:
        barrier.wait()
        seen.append(config.get())

    threads = [threading.Thread(target=first_use) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1
    assert len({id(conf) for conf in seen}) == 1
