"""The referrals' part of the working day (issue 17): work-queue items about answers, a
referral to make again, an enrolment not confirmed; the timeline in plain words; the case
page's banner after a decline; due follow-ups in the Monday digest."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from cases.models import WorkItemSeen
from cases.selectors import work_queue
from cases.services import case_looked_at, followup_create, work_item_mark_seen
from cases.timeline import case_timeline
from referrals.services import referral_accept, referral_create
from referrals.tasks import send_waiting_digests
from tests.factories import CaseFactory, ReferralFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():  # type: ignore[no-untyped-def]
    from django.utils import translation

    with translation.override("en"):
        yield


def _items(user, kind: str):  # type: ignore[no-untyped-def]
    return [i for i in work_queue(user=user)["items"] if i.kind == kind]


def test_a_new_acceptance_appears_until_the_coordinator_looks(
    coordinator, institution, school_user
) -> None:
    referral = ReferralFactory(coordinator=coordinator, institution=institution)
    referral_accept(
        referral=referral, by=school_user, start_date=timezone.localdate() + dt.timedelta(days=4)
    )
    (item,) = _items(coordinator, "answer")
    assert item.text.startswith(f"{institution.name} accepted the referral, start ")
    assert item.key == f"answer:{referral.pk}:accepted"
    case_looked_at(case=referral.case, by=coordinator)
    assert _items(coordinator, "answer") == []


def test_an_answer_leaves_when_marked_seen(coordinator, institution, school_user) -> None:
    referral = ReferralFactory(
        coordinator=coordinator, institution=institution, staff=school_user, accepted=True
    )
    (item,) = _items(coordinator, "answer")
    work_item_mark_seen(case=referral.case, by=coordinator, key=item.key)
    assert _items(coordinator, "answer") == []


def test_a_decline_asks_to_refer_again_until_a_new_referral_is_made(
    coordinator, institution, school_user
) -> None:
    referral = ReferralFactory(
        coordinator=coordinator, institution=institution, staff=school_user, declined=True
    )
    (item,) = _items(coordinator, "refer_again")
    assert "declined the referral (no free place)" in item.text
    assert item.action_url == reverse("referrals:create", args=[referral.case_id])
    assert _items(coordinator, "answer") == []  # one item for one answer
    case = referral.case
    case.refresh_from_db()
    referral_create(case=case, institution=institution, by=coordinator)
    assert _items(coordinator, "refer_again") == []


def test_an_accepted_start_date_passed_without_enrolment(
    coordinator, institution, school_user
) -> None:
    referral = ReferralFactory(coordinator=coordinator, institution=institution)
    start = timezone.localdate() + dt.timedelta(days=1)
    referral_accept(referral=referral, by=school_user, start_date=start)
    assert _items(coordinator, "enrolment") == []
    with time_machine.travel(timezone.now() + dt.timedelta(days=3)):
        (item,) = _items(coordinator, "enrolment")
        assert item.action_url == reverse("referrals:detail", args=[referral.pk])
        work_item_mark_seen(case=referral.case, by=coordinator, key=item.key)
        assert _items(coordinator, "enrolment") == []
    assert WorkItemSeen.objects.filter(key=f"enrolment:{referral.pk}").exists()


def test_timeline_tells_referral_events_in_plain_words(
    coordinator, institution, school_user
) -> None:
    referral = ReferralFactory(coordinator=coordinator, institution=institution)
    start = dt.date(2026, 12, 7)
    with time_machine.travel(dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)):
        referral_accept(referral=referral, by=school_user, start_date=start)
    titles = [e.title for e in case_timeline(case=referral.case)]
    assert f"{institution.name} accepted the referral, start 12/07/2026" in titles
    assert any(t.startswith(f"Referred to {institution.name}") for t in titles)
    # The history rows told by the referral entries are not shown twice.
    assert not any(t == "Referral" for t in titles)
    assert not any("“Looking for a place” to “Referred”" in t for t in titles)


def test_timeline_in_german(coordinator, institution, school_user) -> None:
    from django.utils import translation

    referral = ReferralFactory(coordinator=coordinator, institution=institution)
    referral_accept(referral=referral, by=school_user, start_date=dt.date(2026, 12, 7))
    with translation.override("de"):
        titles = [e.title for e in case_timeline(case=referral.case)]
    assert f"{institution.name} hat die Vermittlung angenommen, Beginn 07.12.2026" in titles


def test_case_page_banner_after_a_decline_offers_a_new_referral(
    login, coordinator, institution, school_user
) -> None:
    referral = ReferralFactory(
        coordinator=coordinator, institution=institution, staff=school_user, declined=True
    )
    page = login(coordinator).get(reverse("cases:detail", args=[referral.case_id]))
    html = page.content.decode()
    assert f"{institution.name} declined the referral" in html
    assert "New referral" in html
    assert reverse("referrals:create", args=[referral.case_id]) in html


def test_case_page_while_referred_shows_whom_it_waits_for(login, coordinator, institution) -> None:
    referral = ReferralFactory(coordinator=coordinator, institution=institution)
    html = login(coordinator).get(reverse("cases:detail", args=[referral.case_id])).content
    assert f"Waiting for the answer of {institution.name}: due by" in html.decode()


BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = dt.datetime(2026, 11, 2, 7, tzinfo=BERLIN)


def test_the_monday_digest_lists_due_followups_by_reference_only(
    coordinator, django_capture_on_commit_callbacks, mailoutbox
) -> None:
    type(coordinator).objects.filter(pk=coordinator.pk).update(language="en")
    with time_machine.travel(MONDAY - dt.timedelta(days=3), tick=False):
        case = CaseFactory(coordinator=coordinator)
        followup_create(
            case=case, by=coordinator, due_on=(MONDAY - dt.timedelta(days=1)).date(),
            reason="Impfnachweis nachfragen",
        )  # fmt: skip
    with (
        time_machine.travel(MONDAY, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert send_waiting_digests.delay().get() == 1
    (message,) = mailoutbox
    assert "1 follow-up due" in message.subject
    assert case.reference in message.body
    assert "Impfnachweis" not in message.body and case.given_name not in message.body


def test_a_team_followup_reaches_the_teams_coordinators(
    coordinator, colleague_of, django_capture_on_commit_callbacks, mailoutbox
) -> None:
    with time_machine.travel(MONDAY - dt.timedelta(days=3), tick=False):
        case = CaseFactory(coordinator=coordinator)
        followup_create(
            case=case, by=coordinator, due_on=(MONDAY - dt.timedelta(days=1)).date(),
            reason="x", for_team=True,
        )  # fmt: skip
    with (
        time_machine.travel(MONDAY, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert send_waiting_digests.delay().get() == 2
    assert sorted(m.to[0] for m in mailoutbox) == sorted([coordinator.email, colleague_of.email])


@pytest.fixture
def colleague_of(coordinator):  # type: ignore[no-untyped-def]
    from tests.factories import UserFactory

    return UserFactory(role="coordinator", team=coordinator.team, username="colleague")
