"""The weekly waiting-time digest: one mail per coordinator and week, not one per case."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine

from cases.services import case_transition
from referrals.models import DigestLog, ReminderLog
from referrals.tasks import send_waiting_digests
from tests.factories import CaseFactory, UserFactory

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = dt.datetime(2026, 11, 2, 7, tzinfo=BERLIN)  # ISO week 2026-W45
Outcome = ReminderLog.Outcome


@pytest.fixture
def run(django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    def _run(when: dt.datetime) -> int:
        with (
            time_machine.travel(when, tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            return send_waiting_digests.delay().get()

    return _run


def waiting_case(coordinator, days: int, **kwargs):  # type: ignore[no-untyped-def]
    with time_machine.travel(MONDAY - dt.timedelta(days=days), tick=False):
        return CaseFactory(
            coordinator=coordinator,
            waiting_since=(MONDAY - dt.timedelta(days=days)).date(),
            **kwargs,
        )


@pytest.fixture
def cases(coordinator):  # type: ignore[no-untyped-def]
    return {
        "limit": waiting_case(coordinator, 120, ready=True),  # over the 90-day limit
        "target": waiting_case(coordinator, 60, clarification=True),  # over the 42-day target
        "fresh": waiting_case(coordinator, 10, ready=True),  # within the target
    }


def test_one_digest_per_coordinator_lists_the_cases_over_target_and_limit(
    run, coordinator, cases, mailoutbox
) -> None:
    type(coordinator).objects.filter(pk=coordinator.pk).update(language="en")  # msgids
    relaxed = UserFactory(role="coordinator", team=coordinator.team, username="relaxed")
    waiting_case(relaxed, 5, ready=True)
    assert run(MONDAY) == 1
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == [coordinator.email]
    body = message.body
    assert cases["limit"].reference in body
    assert cases["target"].reference in body
    assert cases["fresh"].reference not in body
    assert body.index(cases["limit"].reference) < body.index("42 days")
    assert body.index("42 days") < body.index(cases["target"].reference)
    assert "2 cases" in message.subject
    for case in cases.values():
        assert case.given_name not in body
        assert case.family_name not in body
    digest = DigestLog.objects.get()
    assert (digest.user, digest.week, digest.outcome, digest.cases) == (
        coordinator, "2026-W45", Outcome.SENT, 2,
    )  # fmt: skip


def test_the_digest_goes_out_once_per_week(run, coordinator, cases, mailoutbox) -> None:
    run(MONDAY)
    run(MONDAY + dt.timedelta(hours=3))
    run(MONDAY + dt.timedelta(days=4))
    assert len(mailoutbox) == 1
    run(MONDAY + dt.timedelta(days=7))
    assert len(mailoutbox) == 2
    assert sorted(DigestLog.objects.values_list("week", flat=True)) == ["2026-W45", "2026-W46"]


def test_cases_placed_before_sending_are_left_out(
    run, coordinator, cases, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    from referrals.reminders import digests_queue_weekly, referrals_sweep

    for case in (cases["limit"], cases["target"]):
        case_transition(case=case, by=coordinator, transition="close", reason="moved_away")
    with time_machine.travel(MONDAY, tick=False):
        assert digests_queue_weekly() == []
    # A digest row written without its mail (by the version before the outbox) gets its mail
    # from the sweep, which reads the list then: nothing is left, nothing is sent.
    digest = DigestLog.objects.create(user=coordinator, week="2026-W45")
    with time_machine.travel(MONDAY, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert referrals_sweep().adopted == 1
    digest.refresh_from_db()
    assert digest.outcome == Outcome.SKIPPED
    assert mailoutbox == []


def test_a_digest_of_the_version_before_the_outbox_is_sent_by_the_sweep(
    coordinator, cases, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    from referrals.reminders import referrals_sweep

    digest = DigestLog.objects.create(user=coordinator, week="2026-W45")
    with time_machine.travel(MONDAY, tick=False), django_capture_on_commit_callbacks(execute=True):
        referrals_sweep()
    digest.refresh_from_db()
    assert (digest.outcome, digest.cases, digest.attempts) == (Outcome.SENT, 2, 1)
    assert len(mailoutbox) == 1


def test_inactive_coordinators_get_no_digest(run, coordinator, cases, mailoutbox) -> None:
    type(coordinator).objects.filter(pk=coordinator.pk).update(is_active=False)
    assert run(MONDAY) == 0
    assert mailoutbox == []
