"""The export of everything: complete, decrypted, documented, audited, scoped by role."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest

from cases.models import Guardian
from coordination.exceptions import NotAllowed
from coordination.models import AuditEntry
from tests.factories import CaseFactory, InstitutionFactory, ReferralFactory
from transfer.exporting import export_write


def _export(by: Any, team: Any = None) -> dict[str, Any]:
    buffer = io.BytesIO()
    export_write(by=by, team=team, out=buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        files = {name: archive.read(name).decode() for name in archive.namelist()}
    return {
        "schema": json.loads(files.pop("schema.json")),
        "readme": files.pop("README.md"),
        **{
            name.removesuffix(".jsonl"): [json.loads(line) for line in text.splitlines()]
            for name, text in files.items()
        },
    }


@pytest.fixture
def world(office: Any) -> Any:
    own = CaseFactory(coordinator=office.coordinator, given_name="Amina", family_name="Haddad",
                      ready=True, district=office.altstadt)  # fmt: skip
    Guardian.objects.create(family=own.family, relation="mother", name="Leyla", phone="0261 1")
    school = InstitutionFactory(name="Grundschule am Fluss", district=office.altstadt)
    ReferralFactory(coordinator=office.coordinator, institution=school, case=own, free=2)
    other = CaseFactory(coordinator=office.other_coordinator, given_name="Pavel",
                        family_name="Horak")  # fmt: skip
    office.own, office.other = own, other
    return office


def test_administrator_exports_every_table_decrypted_and_documented(world: Any) -> None:
    data = _export(world.admin)

    assert {c["family_name"] for c in data["cases"]} == {"Haddad", "Horak"}
    case = next(c for c in data["cases"] if c["family_name"] == "Haddad")
    assert case["reference"] == world.own.reference and case["state"] == "referred"
    assert not any(k.startswith("bidx_") for k in case)
    assert data["contacts"][0]["name"] == "Leyla"
    assert {h["case_reference"] for h in data["history"]} == {world.own.reference,
                                                               world.other.reference}  # fmt: skip
    assert data["referrals"][0]["case_reference"] == world.own.reference
    assert "reminders" in data and "institutions" in data and "users" in data
    # every field of every file is described, with its allowed values
    for table, spec in data["schema"]["tables"].items():
        for row in data.get(table, [])[:1]:
            assert set(row) <= set(spec["fields"]), table
    assert data["schema"]["tables"]["cases"]["fields"]["state"]["values"]["ready"]
    assert data["schema"]["tables"]["cases"]["fields"]["given_name"]["personal"] is True
    entry = AuditEntry.objects.filter(action="transfer.export").get()
    assert entry.detail["scope"] == "all" and entry.detail["counts"]["cases"] == 2


def test_team_lead_exports_only_the_own_team(world: Any) -> None:
    world.team.lead = world.coordinator
    world.team.save()

    data = _export(world.coordinator, world.team)

    assert [c["family_name"] for c in data["cases"]] == ["Haddad"]
    assert {h["case_reference"] for h in data["history"]} == {world.own.reference}
    assert [t["name"] for t in data["teams"]] == ["Team Nord"]


def test_a_coordinator_who_leads_no_team_cannot_export(world: Any) -> None:
    with pytest.raises(NotAllowed):
        _export(world.coordinator, world.team)
    with pytest.raises(NotAllowed):
        _export(world.coordinator)


def test_a_team_lead_cannot_export_everything_or_another_team(world: Any) -> None:
    world.team.lead = world.coordinator
    world.team.save()
    with pytest.raises(NotAllowed):
        _export(world.coordinator)
    with pytest.raises(NotAllowed):
        _export(world.coordinator, world.other_team)


def test_the_number_of_queries_does_not_grow_with_the_cases(world: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            export_write(by=world.admin, team=None, out=io.BytesIO())
        return len(captured.captured_queries)

    queries()  # once to warm the caches (content types, office settings)
    few = queries()
    for n in range(3):
        CaseFactory(coordinator=world.coordinator, given_name=f"Kind{n}", family_name="Neu")

    assert queries() == few
