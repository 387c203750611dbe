"""Bad input gives form errors and clear messages, never a 500."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from cases.models import Group
from referrals.models import Places, Referral, ReferralState
from referrals.services import referral_accept, referral_decline
from tests.factories import PlacesFactory

pytestmark = pytest.mark.django_db


def test_referral_to_a_full_institution_asks_for_confirmation_and_comment(
    login, coordinator, institution, ready_case
) -> None:
    PlacesFactory(institution=institution, group=Group.GRADE_2, free=0)
    client = login(coordinator)
    url = reverse("referrals:create", args=[ready_case.pk])
    response = client.post(url, {"institution": institution.pk})
    assert response.status_code == 200
    html = response.content.decode()
    assert "waiting list" in html
    assert 'name="confirm_waitlist"' in html
    assert response.context["form"].errors["confirm_waitlist"]
    assert not Referral.objects.exists()

    response = client.post(url, {"institution": institution.pk, "confirm_waitlist": "on"})
    assert response.status_code == 200
    assert not Referral.objects.exists()

    response = client.post(
        url, {"institution": institution.pk, "confirm_waitlist": "on", "message": "Warteliste"}
    )
    assert response.status_code == 302
    assert Referral.objects.get().waitlist


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"institution": "abc"},
        {"institution": "999999"},
        {"institution": "1", "message": "x" * 5000},
        {"institution": "1", "message": "bad\x00text"},
    ],
)
def test_bad_referral_input_gives_form_errors(
    login, coordinator, institution, ready_case, data
) -> None:
    response = login(coordinator).post(reverse("referrals:create", args=[ready_case.pk]), data)
    assert response.status_code == 200
    assert response.context["form"].errors
    assert not Referral.objects.exists()


def test_referring_to_a_kita_from_a_school_case_is_not_offered(
    login, coordinator, kita, ready_case
) -> None:
    response = login(coordinator).post(
        reverse("referrals:create", args=[ready_case.pk]), {"institution": kita.pk}
    )
    assert response.status_code == 200
    assert "institution" in response.context["form"].errors


def test_referring_a_case_that_is_not_ready_redirects_with_a_message(
    login, coordinator, referral
) -> None:
    response = login(coordinator).get(reverse("referrals:create", args=[referral.case_id]))
    assert response.status_code == 302
    assert response.url == reverse("cases:detail", args=[referral.case_id])


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"decline-reason": ""}, "reason"),
        ({"decline-reason": "nonsense"}, "reason"),
        ({"decline-reason": "other", "decline-comment": "   "}, "comment"),
    ],
)
def test_bad_decline_input_gives_form_errors(login, school_user, referral, data, field) -> None:
    response = login(school_user).post(reverse("referrals:decline", args=[referral.pk]), data)
    assert response.status_code == 200
    assert field in response.context["forms"]["decline"].errors
    referral.refresh_from_db()
    assert referral.state == ReferralState.PENDING


@pytest.mark.parametrize("value", ["morgen", "2026-13-45", "99999-01-01"])
def test_bad_start_date_gives_a_form_error(login, school_user, referral, value) -> None:
    response = login(school_user).post(
        reverse("referrals:accept", args=[referral.pk]), {"accept-start_date": value}
    )
    assert response.status_code == 200
    assert "start_date" in response.context["forms"]["accept"].errors


def test_start_date_before_the_referral_is_a_form_error(login, school_user, referral) -> None:
    day = timezone.localdate(referral.created_at) - dt.timedelta(days=3)
    response = login(school_user).post(
        reverse("referrals:accept", args=[referral.pk]), {"accept-start_date": day.isoformat()}
    )
    assert response.status_code == 200
    assert response.context["forms"]["accept"].non_field_errors()


def test_accepting_without_a_free_place_is_a_form_error(
    login, school_user, institution, referral
) -> None:
    Places.objects.filter(institution=institution).update(free=0)
    response = login(school_user).post(reverse("referrals:accept", args=[referral.pk]), {})
    assert response.status_code == 200
    assert "free place" in " ".join(response.context["forms"]["accept"].non_field_errors())


def test_accepting_a_declined_referral_through_http_is_refused(
    login, school_user, referral
) -> None:
    referral_decline(referral=referral, by=school_user, reason="no_place")
    client = login(school_user)
    response = client.post(reverse("referrals:accept", args=[referral.pk]), {}, follow=True)
    assert response.status_code == 200
    assert "not possible" in response.content.decode()
    referral.refresh_from_db()
    assert referral.state == ReferralState.DECLINED


@pytest.mark.parametrize(
    "day", [None, "", "gestern", (timezone.localdate() + dt.timedelta(days=2)).isoformat()]
)
def test_bad_first_day_gives_a_form_error(login, school_user, referral, day) -> None:
    referral_accept(referral=referral, by=school_user)
    data = {} if day is None else {"enrol-first_day": day}
    response = login(school_user).post(reverse("referrals:enrol", args=[referral.pk]), data)
    assert response.status_code == 200
    assert "first_day" in response.context["forms"]["enrol"].errors
    referral.refresh_from_db()
    assert referral.state == ReferralState.ACCEPTED


def test_withdraw_without_a_reason_gives_a_form_error(login, coordinator, referral) -> None:
    response = login(coordinator).post(
        reverse("referrals:withdraw", args=[referral.pk]), {"comment": "  "}
    )
    assert response.status_code == 200
    assert "comment" in response.context["form"].errors
    referral.refresh_from_db()
    assert referral.state == ReferralState.PENDING


@pytest.mark.parametrize("value", ["-1", "1000", "zwei", "1.5"])
def test_bad_free_places_give_form_errors(login, school_user, institution, value) -> None:
    response = login(school_user).post(
        reverse("referrals:places"),
        {"institution": institution.pk, f"i{institution.pk}-free_g01": value},
    )
    assert response.status_code == 200
    blocks = response.context["blocks"]
    assert blocks[0]["form"].errors
    assert not Places.objects.filter(institution=institution).exists()


def test_free_places_of_another_institution_cannot_be_posted(
    login, school_user, other_institution
) -> None:
    response = login(school_user).post(
        reverse("referrals:places"),
        {"institution": other_institution.pk, f"i{other_institution.pk}-free_g01": "5"},
    )
    assert response.status_code == 404
    assert not Places.objects.filter(institution=other_institution).exists()


def test_free_places_are_saved_with_the_date(login, school_user, institution) -> None:
    response = login(school_user).post(
        reverse("referrals:places"),
        {"institution": institution.pk, f"i{institution.pk}-free_g01": "3",
         f"i{institution.pk}-free_g02": "0"},
    )  # fmt: skip
    assert response.status_code == 302
    figures = dict(Places.objects.filter(institution=institution).values_list("group", "free"))
    assert figures == {"g01": 3, "g02": 0}
    page = login(school_user).get(reverse("referrals:places")).content.decode()
    assert "Grade 1" in page
    assert "Grade 3" in page  # every grade of a Grundschule is offered
    assert "Grade 5" not in page


def test_unknown_institution_parameter_on_places_is_404(login, school_user) -> None:
    response = login(school_user).post(reverse("referrals:places"), {"institution": "x"})
    assert response.status_code == 404
