"""The whole journey through HTTP, as the real roles: coordinator and school staff."""

from __future__ import annotations

import pytest
from django.core import mail
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from cases.models import Case, CaseEvent, Group
from referrals.models import Places, Referral, ReferralState
from tests.factories import PlacesFactory

pytestmark = pytest.mark.django_db


def _panel(case: Case, user) -> str:
    request = RequestFactory().get("/")
    request.user = user
    # The refer button is the case page's next step; the panel lists the referrals.
    template = Template(
        "{% load referrals_extras %}{% case_referral_next_step case user %}"
        "{% case_referral_panel case user %}"
    )
    return template.render(Context({"case": case, "user": user, "request": request}))


def test_refer_accept_enrol_through_http_places_the_case(
    login, coordinator, school_user, institution, ready_case, django_capture_on_commit_callbacks
) -> None:
    PlacesFactory(institution=institution, group=Group.GRADE_2, free=1)
    coord, school = login(coordinator), login(school_user)

    page = coord.get(reverse("referrals:create", args=[ready_case.pk]))
    assert page.status_code == 200
    assert institution.name in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = coord.post(
            reverse("referrals:create", args=[ready_case.pk]),
            {"institution": institution.pk, "message": "Bitte Rückmeldung bis Freitag."},
        )
    assert response.status_code == 302
    assert response.url == reverse("cases:detail", args=[ready_case.pk])
    ready_case.refresh_from_db()
    assert ready_case.state == "referred"
    referral = Referral.objects.get(case=ready_case)

    inbox = school.get(reverse("referrals:inbox"))
    assert ready_case.reference in inbox.content.decode()
    page = school.get(reverse("referrals:detail", args=[referral.pk]))
    assert "Amina" in page.content.decode()

    start = timezone.localdate()
    with django_capture_on_commit_callbacks(execute=True):
        response = school.post(
            reverse("referrals:accept", args=[referral.pk]), {"accept-start_date": start}
        )
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.state == ReferralState.ACCEPTED
    assert referral.start_date == start
    places = Places.objects.get(institution=institution, group=Group.GRADE_2)
    assert (places.free, places.reserved) == (0, 1)

    with django_capture_on_commit_callbacks(execute=True):
        response = school.post(
            reverse("referrals:enrol", args=[referral.pk]), {"enrol-first_day": start}
        )
    assert response.status_code == 302
    ready_case.refresh_from_db()
    assert ready_case.state == "placed"
    assert ready_case.placed_on == start
    places.refresh_from_db()
    assert (places.free, places.reserved) == (0, 0)
    assert [m.to for m in mail.outbox] == [
        [institution.email],
        [coordinator.email],
        [coordinator.email],
    ]
    history = list(
        ready_case.events.filter(kind=CaseEvent.Kind.REFERRAL).values_list("transition", flat=True)
    )
    assert history == ["created", "accepted", "enrolled"]


def test_refer_decline_ready_and_refer_elsewhere_through_http(login,
    coordinator, school_user, other_school_user, institution, other_institution, ready_case,
    django_capture_on_commit_callbacks,
) -> None:  # fmt: skip
    PlacesFactory(institution=institution, group=Group.GRADE_2, free=1)
    PlacesFactory(institution=other_institution, group=Group.GRADE_2, free=1)
    coord, school = login(coordinator), login(school_user)

    coord.post(reverse("referrals:create", args=[ready_case.pk]), {"institution": institution.pk})
    referral = Referral.objects.get(case=ready_case)
    with django_capture_on_commit_callbacks(execute=True):
        response = school.post(
            reverse("referrals:decline", args=[referral.pk]),
            {"decline-reason": "catchment", "decline-comment": "Bitte Schule im Bezirk Süd."},
        )
    assert response.status_code == 302
    ready_case.refresh_from_db()
    assert ready_case.state == "ready"
    assert mail.outbox[-1].to == [coordinator.email]

    panel = _panel(ready_case, coordinator)
    assert "outside the catchment area" in panel
    assert "Bitte Schule im Bezirk Süd." in panel
    assert reverse("referrals:create", args=[ready_case.pk]) in panel

    response = coord.post(
        reverse("referrals:create", args=[ready_case.pk]), {"institution": other_institution.pk}
    )
    assert response.status_code == 302
    ready_case.refresh_from_db()
    assert ready_case.state == "referred"
    new = Referral.objects.get(case=ready_case, state=ReferralState.PENDING)
    assert new.institution == other_institution
    other_inbox = login(other_school_user).get(reverse("referrals:inbox"))
    assert ready_case.reference in other_inbox.content.decode()
    first_inbox = school.get(reverse("referrals:inbox")).content.decode()
    assert ready_case.reference not in first_inbox  # the declined one is not open any more


def test_coordinator_withdraws_with_a_reason_and_the_place_is_released(
    login, coordinator, school_user, institution, ready_case, django_capture_on_commit_callbacks
) -> None:
    PlacesFactory(institution=institution, group=Group.GRADE_2, free=1)
    coord = login(coordinator)
    coord.post(reverse("referrals:create", args=[ready_case.pk]), {"institution": institution.pk})
    referral = Referral.objects.get(case=ready_case)
    login(school_user).post(reverse("referrals:accept", args=[referral.pk]), {})

    page = coord.get(reverse("referrals:withdraw", args=[referral.pk]))
    assert page.status_code == 200
    assert "data-confirm" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = coord.post(
            reverse("referrals:withdraw", args=[referral.pk]), {"comment": "Familie zieht um."}
        )
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.state == ReferralState.WITHDRAWN
    ready_case.refresh_from_db()
    assert ready_case.state == "ready"
    places = Places.objects.get(institution=institution, group=Group.GRADE_2)
    assert (places.free, places.reserved) == (1, 0)
    assert mail.outbox[-1].to == [institution.email]


def test_no_show_releases_the_place_and_the_case_looks_again(
    login, coordinator, school_user, institution, ready_case
) -> None:
    PlacesFactory(institution=institution, group=Group.GRADE_2, free=1)
    login(coordinator).post(
        reverse("referrals:create", args=[ready_case.pk]), {"institution": institution.pk}
    )
    referral = Referral.objects.get(case=ready_case)
    school = login(school_user)
    school.post(reverse("referrals:accept", args=[referral.pk]), {})
    response = school.post(
        reverse("referrals:no_show", args=[referral.pk]), {"no_show-comment": "Nie erschienen."}
    )
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.state == ReferralState.NO_SHOW
    ready_case.refresh_from_db()
    assert ready_case.state == "ready"
    places = Places.objects.get(institution=institution, group=Group.GRADE_2)
    assert (places.free, places.reserved) == (1, 0)
