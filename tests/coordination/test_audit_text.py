"""The audit log in plain words; the codes stay in the export and behind a toggle."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse
from django.utils import translation

from coordination.audit import audit_log
from coordination.audit_text import describe
from tests.factories import CaseFactory, UserFactory
from tests.second_factor import log_in


def test_a_case_view_reads_as_a_sentence_with_the_field_names(db, team) -> None:
    lena = UserFactory(username="lbecker", first_name="Lena", last_name="Becker",
                       role="coordinator", team=team)  # fmt: skip
    case = CaseFactory(coordinator=lena)
    entry = audit_log(actor=lena, action="case.view", obj=case,
                      fields=["family_name", "birth_date", "address"])  # fmt: skip
    with translation.override("de"):
        text = describe(entry)
    assert text == (
        f"Lena Becker (Koordination) hat den Fall {case.reference} geöffnet: "
        "Anschrift, Geburtsdatum, Familienname"
    )
    with translation.override("en"):
        assert describe(entry).startswith(
            f"Lena Becker (Coordinator) opened the case {case.reference}"
        )


def test_unknown_actions_and_listed_cases_still_read(db, coordinator) -> None:
    entry = audit_log(actor=coordinator, action="case.view", fields=["family_name"],
                      detail={"view": "list", "references": ["NZ-1", "NZ-2"]})  # fmt: skip
    with translation.override("de"):
        assert "hat 2 Fälle in einer Liste gesehen (NZ-1, NZ-2): Familienname" in describe(entry)
        other = audit_log(actor=None, action="something.new")
        assert "something.new" in describe(other)


def test_the_audit_page_shows_sentences_and_keeps_the_codes_behind_a_toggle(
    admin_user_role, coordinator
) -> None:
    case = CaseFactory(coordinator=coordinator)
    audit_log(actor=coordinator, action="case.view", obj=case, fields=["birth_date"])
    client = log_in(Client(), admin_user_role)
    html = client.get(reverse("audit_search")).content.decode()
    assert f"hat den Fall {case.reference} geöffnet: Geburtsdatum" in html
    details = html[html.index("<details") :]
    assert "<code>case.view</code>" in details and "birth_date" in details
    export = client.get(reverse("audit_export"), {"action": "case.view"})
    body = b"".join(export.streaming_content).decode()
    assert "case.view" in body and "birth_date" in body and "geöffnet" not in body


def _actions_written_by_the_code() -> set[str]:
    """Every action code the apps write: literal ``action="x.y"`` arguments, and the
    families written with an f-string, expanded by the steps their callers pass."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    apps = ("coordination", "cases", "referrals", "offers", "monitoring", "transfer",
            "administration", "demo")  # fmt: skip
    literal = re.compile(r'action="([a-z_]+\.[a-z_.]+)"')
    found: set[str] = set()
    for app in apps:
        for path in (root / app).rglob("*.py"):
            if "migrations" not in path.parts:
                found |= set(literal.findall(path.read_text(encoding="utf-8")))
    from offers.services import STEP_LABELS

    found |= {f"offer_registration.{step}" for step in STEP_LABELS}
    found |= {f"followup.{w}" for w in ("created", "done", "cancelled", "postponed")}
    found |= {"offer.update"}
    return found


def test_every_action_the_code_writes_reads_as_a_sentence_in_both_languages() -> None:
    from coordination.audit_text import ACTIONS

    written = _actions_written_by_the_code()
    assert "import.upload" in written and "case.view" in written  # the scan works
    assert sorted(written - set(ACTIONS)) == []
    for code in written:
        for language in ("de", "en"):
            with translation.override(language):
                text = str(ACTIONS[code])
            assert "%(actor)s" in text or "%(reference)s" in text or code == "audit.head"
