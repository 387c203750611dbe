"""One beat sends; a second one started by mistake waits as a standby (coordination/beat.py)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from unittest import mock

import pytest

from coordination.beat import POLL_SECONDS, BeatLock, SingleBeatScheduler
from coordination.celery import app

pytestmark = pytest.mark.postgres


def eventually(check: Callable[[], bool], seconds: float = 5) -> None:
    """The server ends a closed session's locks a moment later (a standby polls anyway)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the lock was not released"
        time.sleep(0.05)


@pytest.fixture
def locks():  # type: ignore[no-untyped-def]
    made: list[BeatLock] = []

    def make() -> BeatLock:
        made.append(BeatLock())
        return made[-1]

    yield make
    for lock in made:
        lock.release()


@pytest.mark.django_db
def test_only_one_beat_holds_the_lock_and_a_standby_takes_over(locks) -> None:  # type: ignore[no-untyped-def]
    first, second = locks(), locks()
    assert first.held()
    assert not second.held()
    assert first.held()  # still, on its live connection
    first.release()  # the first beat stopped: its session, and the lock, are gone
    eventually(second.held)
    assert not first.held()


@pytest.mark.django_db
def test_a_beat_whose_lock_connection_broke_stops_sending(locks) -> None:  # type: ignore[no-untyped-def]
    first, second = locks(), locks()
    assert first.held()
    first.conn.close()  # e.g. the database restarted: the lock went with the session
    eventually(second.held)
    assert not first.held()


@pytest.mark.django_db
def test_the_standby_scheduler_sends_nothing(locks, tmp_path) -> None:  # type: ignore[no-untyped-def]
    holder = locks()
    assert holder.held()
    scheduler = SingleBeatScheduler(app=app, schedule_filename=str(tmp_path / "schedule"))
    try:
        with mock.patch.object(SingleBeatScheduler, "apply_entry") as apply_entry:
            for entry in scheduler.schedule.values():  # everything is due
                entry.last_run_at -= dt.timedelta(days=8)
            assert scheduler.tick() == POLL_SECONDS
            apply_entry.assert_not_called()
            holder.release()
            eventually(lambda: scheduler.tick() == 0)  # takes the lock, sends what is due
            assert scheduler.beat_lock.holding
            apply_entry.assert_called()
    finally:
        scheduler.close()


def test_the_beat_uses_the_single_beat_scheduler() -> None:
    from django.conf import settings

    assert settings.CELERY_BEAT_SCHEDULER == "coordination.beat:SingleBeatScheduler"
