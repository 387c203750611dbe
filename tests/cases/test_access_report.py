"""Right of access (Art. 15 GDPR): the complete copy of one case, as a page and as JSON."""

from __future__ import annotations

import json

import pytest
from django.db.models import Q
from django.urls import reverse

from cases.models import Guardian
from cases.services import case_register
from coordination.audit import audit_log
from coordination.models import AuditEntry
from tests.factories import CaseFactory, ReferralFactory
from tests.second_factor import log_in


@pytest.fixture
def referred_case(coordinator, institution, school_user):  # type: ignore[no-untyped-def]
    case = CaseFactory(
        coordinator=coordinator,
        ready=True,
        district=institution.district,
        address="Moselweg 3",
        health_notes="Asthma",
        notes="Bitte Dolmetscher",
    )
    Guardian.objects.create(
        family=case.family, relation="mother", name="Leyla Haddad", phone="+49 261 1234"
    )
    case_register(
        by=coordinator,
        data={"given_name": "Omar", "family_name": "Haddad", "target_type": "school"},
        sibling_of=case,
    )
    referral = ReferralFactory(coordinator=coordinator, institution=institution, case=case)
    from referrals.models import ReminderLog

    ReminderLog.objects.create(
        referral=referral, level="r1", recipient=institution.email, outcome="sent"
    )
    # The school opened the referral twice.
    for _ in range(2):
        audit_log(
            actor=school_user,
            action="referral.view",
            obj=referral,
            case_reference=case.reference,
            fields=["given_name"],
        )
    case.refresh_from_db()
    return case


def test_coordinator_gets_the_complete_copy_as_json(
    client, coordinator, referred_case, institution
):
    client.force_login(coordinator)
    response = client.get(reverse("cases:access_report_json", args=[referred_case.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert "attachment" in response["Content-Disposition"]
    report = json.loads(response.content)
    assert report["reference"] == referred_case.reference
    assert report["personal_data"]["address"] == "Moselweg 3"
    assert report["personal_data"]["health_notes"] == "Asthma"
    assert report["personal_data"]["given_name"] == referred_case.given_name
    assert report["family_contacts"][0]["name"] == "Leyla Haddad"
    assert len(report["siblings"]) == 1
    assert report["history"][0]["kind"] == "created"
    (referral,) = report["referrals"]
    assert referral["institution"] == institution.name
    assert referral["reminders"][0]["level"] == "r1"
    (recipient,) = report["recipients"]
    assert recipient["institution"] == institution.name and recipient["views"] == 2
    by = {a["by"] for a in report["accesses"] if a["action"] == "referral.view"}
    assert by == {institution.name}
    # Employees are named by role and organisation, never by their user name.
    assert "school" not in {a["by"] for a in report["accesses"]}
    assert "coord" not in json.dumps(report["accesses"])
    assert report["information"]["storage_period"]


def test_the_printable_page_shows_the_same_and_producing_it_is_logged(
    client, coordinator, referred_case
):
    client.force_login(coordinator)
    response = client.get(reverse("cases:access_report", args=[referred_case.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    for text in ("Moselweg 3", "Asthma", "Leyla Haddad", referred_case.reference, "data-print"):
        assert text in body
    assert "no-store" in response["Cache-Control"]
    entries = AuditEntry.objects.filter(action="case.access_report", actor=coordinator)
    assert entries.count() == 1
    entry = entries.get()
    assert entry.case_reference == referred_case.reference
    assert "health_notes" in entry.fields and entry.detail == {"format": "html"}


def test_accesses_from_case_lists_are_found_too(client, coordinator, referred_case) -> None:
    audit_log(
        actor=coordinator,
        action="case.view",
        fields=["given_name"],
        detail={"view": "list", "references": [referred_case.reference, "NZ-0"]},
    )
    # A list naming only another case whose reference starts the same is not counted.
    audit_log(
        actor=coordinator,
        action="case.view",
        fields=["given_name"],
        detail={"view": "list", "references": [referred_case.reference + "9"]},
    )
    client.force_login(coordinator)
    report = json.loads(
        client.get(reverse("cases:access_report_json", args=[referred_case.pk])).content
    )
    assert [a["action"] for a in report["accesses"]].count("case.view") == 1


def test_an_erased_case_reports_the_erasure(client, coordinator, admin_user_role) -> None:
    import datetime as dt

    import time_machine

    from cases.retention import case_archive_decision, case_erase, case_offer_to_archive

    with time_machine.travel(dt.datetime(2021, 1, 5, tzinfo=dt.UTC), tick=False):
        case = CaseFactory(coordinator=coordinator, closed=True)
    case_offer_to_archive(cases=[case], by=admin_user_role)
    case_archive_decision(case=case, by=admin_user_role, taken=True)
    case_erase(case=case)
    client.force_login(coordinator)
    report = json.loads(client.get(reverse("cases:access_report_json", args=[case.pk])).content)
    assert report["case"]["erased_at"] is not None
    assert report["personal_data"]["given_name"] in ("", None)
    page = client.get(reverse("cases:access_report", args=[case.pk]))
    assert page.status_code == 200


@pytest.mark.parametrize(
    "who", ["other_coordinator", "school_user", "management_user", "admin_user_role"]
)
def test_nobody_else_produces_the_copy_nor_learns_that_the_case_exists(
    client, request, referred_case, who
) -> None:
    log_in(client, request.getfixturevalue(who))
    for name in ("cases:access_report", "cases:access_report_json"):
        assert client.get(reverse(name, args=[referred_case.pk])).status_code == 404
    assert not AuditEntry.objects.filter(action="case.access_report").exists()


def test_a_coordinator_the_case_was_shared_with_may_produce_it(
    client, coordinator, other_coordinator, referred_case
):
    from cases.services import case_share

    case_share(case=referred_case, by=coordinator, with_user=other_coordinator)
    client.force_login(other_coordinator)
    assert client.get(reverse("cases:access_report", args=[referred_case.pk])).status_code == 200


def test_anonymous_is_sent_to_login(client, referred_case) -> None:
    response = client.get(reverse("cases:access_report", args=[referred_case.pk]))
    assert response.status_code == 302 and reverse("login") in response["Location"]


@pytest.mark.postgres
def test_every_branch_of_the_reports_lookup_can_use_an_index(referred_case) -> None:
    """With millions of entries the report must not read the whole log: with sequential
    scans ruled out, PostgreSQL still finds a plan for each branch (the GIN index on
    detail -> 'references' for the list pages, ``audit_object`` for entries about the case
    and its referrals)."""
    from django.db import connection, transaction

    from cases.access import _listed_on_a_page

    branches = {
        "audit_listed_references": _listed_on_a_page(referred_case.reference),
        "audit_object": Q(object_type="cases.case", object_id=str(referred_case.pk)),
    }
    for index, lookup in branches.items():
        sql, params = AuditEntry.objects.filter(lookup).query.sql_with_params()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "Seq Scan" not in plan and index in plan, plan
