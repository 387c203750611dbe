"""The institution inbox: its own referrals only, pending first, days waiting, pages."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from referrals.models import Referral
from referrals.selectors import referral_deadline, referrals_inbox
from referrals.services import referral_accept, referral_decline
from referrals.views import INBOX_PAGE_SIZE
from tests.factories import CaseFactory, PlacesFactory, ReferralFactory

pytestmark = pytest.mark.django_db


def _referral(coordinator, institution, days_ago: int = 0) -> Referral:
    case = CaseFactory(coordinator=coordinator, ready=True, district=institution.district)
    referral = ReferralFactory(coordinator=coordinator, institution=institution, case=case, free=9)
    Referral.objects.filter(pk=referral.pk).update(
        created_at=timezone.now() - dt.timedelta(days=days_ago)
    )
    return Referral.objects.get(pk=referral.pk)


def test_pending_come_first_oldest_first_then_accepted(coordinator, institution, school_user):
    accepted = _referral(coordinator, institution, days_ago=9)
    referral_accept(referral=accepted, by=school_user)
    new = _referral(coordinator, institution, days_ago=1)
    old = _referral(coordinator, institution, days_ago=6)
    declined = _referral(coordinator, institution, days_ago=3)
    referral_decline(referral=declined, by=school_user, reason="no_place")

    assert list(referrals_inbox(user=school_user)) == [old, new, accepted]
    assert list(referrals_inbox(user=school_user, show="all")) == [old, new, accepted, declined]


def test_inbox_shows_days_waiting(login, coordinator, institution, school_user) -> None:
    referral = _referral(coordinator, institution, days_ago=6)
    html = login(school_user).get(reverse("referrals:inbox")).content.decode()
    assert referral.case.reference in html
    assert ">6</td>" in html.replace(" ", "").replace("\n", "")


def test_inbox_never_lists_another_institutions_referrals(
    login, coordinator, institution, other_institution, other_school_user
) -> None:
    mine = _referral(coordinator, other_institution)
    theirs = _referral(coordinator, institution)
    html = login(other_school_user).get(reverse("referrals:inbox")).content.decode()
    assert mine.case.reference in html
    assert theirs.case.reference not in html


def test_inbox_is_paged(login, coordinator, institution, school_user) -> None:
    PlacesFactory(institution=institution, free=99)
    for _ in range(INBOX_PAGE_SIZE + 2):
        _referral(coordinator, institution)
    client = login(school_user)
    first = client.get(reverse("referrals:inbox"))
    assert len(first.context["page"].object_list) == INBOX_PAGE_SIZE
    assert 'href="?show=open&amp;page=2" rel="next"' in first.content.decode()
    second = client.get(reverse("referrals:inbox"), {"page": 2})
    assert len(second.context["page"].object_list) == 2
    assert 'href="?show=open&amp;page=1" rel="prev"' in second.content.decode()
    assert client.get(reverse("referrals:inbox"), {"page": "x"}).status_code == 200
    assert client.get(reverse("referrals:inbox"), {"page": "999"}).status_code == 200


def test_inbox_has_three_sections_with_counts_and_what_is_expected(
    login, coordinator, institution, school_user
) -> None:
    waiting = _referral(coordinator, institution, days_ago=2)
    started = _referral(coordinator, institution, days_ago=20)
    referral_accept(
        referral=started, by=school_user, start_date=timezone.localdate() - dt.timedelta(days=3)
    )
    later = _referral(coordinator, institution, days_ago=10)
    referral_accept(
        referral=later, by=school_user, start_date=timezone.localdate() + dt.timedelta(days=5)
    )
    declined = _referral(coordinator, institution, days_ago=4)
    referral_decline(referral=declined, by=school_user, reason="no_place")

    response = login(school_user).get(reverse("referrals:inbox"), {"show": "all"})
    html = response.content.decode()
    assert response.context["counts"] == {"to_answer": 1, "to_confirm": 1, "done": 2}
    assert "To answer (1)" in html and "Confirm enrolment (1)" in html and "Done (2)" in html
    deadline = referral_deadline(waiting)
    assert deadline is not None
    assert f"Please answer by {deadline:%m/%d/%Y}" in html
    start = started.case.reference
    assert "Please confirm the enrolment \u2013 start was" in html
    # Urgency: the one to answer, then the enrolment to confirm, then the rest.
    order = [html.index(r.case.reference) for r in (waiting, started, later, declined)]
    assert order[0] < order[1] < min(order[2], order[3])
    assert html.index(start) < html.index('id="section-done"')


def test_the_open_inbox_lists_no_done_rows_but_counts_them(
    login, coordinator, institution, school_user
) -> None:
    declined = _referral(coordinator, institution, days_ago=4)
    referral_decline(referral=declined, by=school_user, reason="no_place")
    _referral(coordinator, institution, days_ago=1)
    response = login(school_user).get(reverse("referrals:inbox"))
    assert response.context["counts"]["done"] == 1
    assert declined.case.reference not in response.content.decode()


def test_the_inbox_page_makes_the_same_queries_for_one_row_and_for_many(
    login, coordinator, institution, school_user
) -> None:
    """The child's name is read for all rows at once; the case's state comes with it (the FSM
    mixin reads it on load: without it, one more query per row)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = login(school_user)
    url = reverse("referrals:inbox")
    _referral(coordinator, institution, days_ago=2)
    client.get(url)  # sessions and caches warm

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    one = queries()
    for days in range(3, 9):
        _referral(coordinator, institution, days_ago=days)
    assert queries() == one
