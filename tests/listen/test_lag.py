"""The listener's lag meter and status files (pure, with a fake clock)."""

import json
import os
import pathlib

from novahooks_core.notify import lag


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_the_lag_is_the_age_of_the_oldest_message_in_flight() -> None:
    clock = Clock()
    meter = lag.LagMeter(clock)
    assert meter.lag() == lag.Lag(0.0, 0.0, 0)
    old = meter.started(clock.now - 90)
    meter.started(clock.now - 5)
    meter.started(None)  # no timestamp: as old as its arrival
    clock.now += 10
    found = meter.lag()
    assert (found.age, found.in_flight) == (100.0, 3)
    assert found.behind(30) and not found.behind(100)
    meter.finished(old)
    assert meter.lag().age == 15.0 and meter.lag().in_flight == 2
    # A timestamp from a clock ahead of ours is taken as now.
    meter.started(clock.now + 50)
    assert meter.lag().age == 15.0
    # The rate counts what finished in the last minute only.
    assert meter.lag().rate == round(1 / lag.RATE_WINDOW, 3)
    clock.now += lag.RATE_WINDOW + 1
    assert meter.lag().rate == 0.0


def test_envelope_timestamps_are_read_as_oslo_messaging_writes_them(
        ) -> None:
    assert lag.sent_at('1970-01-01 00:01:40.500000') == 100.5
    assert lag.sent_at('1970-01-01T00:01:40Z') == 100.0
    assert lag.sent_at(None) is None and lag.sent_at('not a time') is None


def test_a_status_file_of_a_gone_or_hung_listener_is_not_running(
        tmp_path: pathlib.Path) -> None:
    mine = lag.status_path(str(tmp_path))
    lag.write_status(mine, {'pid': os.getpid(), 'lag_seconds': 1.5})
    gone = lag.status_path(str(tmp_path), 2 ** 22 + 12345)
    pathlib.Path(gone).write_text(json.dumps({'pid': 2 ** 22 + 12345}))
    (tmp_path / 'listen-status.9.json').write_text('not json')
    found = {s['pid']: s for s in lag.read_statuses(str(tmp_path))}
    assert found[os.getpid()]['running'] is True
    assert found[2 ** 22 + 12345]['running'] is False
    later = os.path.getmtime(mine) + 3 * lag.STATUS_SECONDS + 1
    hung = lag.read_statuses(str(tmp_path), now=later)
    assert [s['running'] for s in hung] == [False, False]
