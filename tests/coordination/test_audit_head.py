"""The nightly head of the audit log goes outside the system: to the data-protection officer
by mail (through the outbox), and in any case into the log itself."""

from __future__ import annotations

import logging

import pytest
from coordination.tasks import send_audit_head
from django.core.management import call_command

from coordination.audit import audit_log
from coordination.audit_head import HEAD_ACTION, MAIL_KIND, audit_head_send
from coordination.models import AuditEntry, OfficeSettings, OutboxMessage
from tests.factories import CaseFactory


def _set_dpo(address: str) -> None:
    from django.core.cache import cache

    OfficeSettings.objects.update_or_create(pk=1, defaults={"dpo_email": address})
    cache.delete("office-settings")


def test_the_nightly_head_is_queued_to_the_dpo_without_personal_data(db, coordinator) -> None:
    _set_dpo("datenschutz@example.de")
    case = CaseFactory(coordinator=coordinator)
    audit_log(actor=coordinator, action="case.view", obj=case)
    head_id = send_audit_head()
    entry = AuditEntry.objects.get(pk=head_id)
    assert entry.action == HEAD_ACTION and entry.detail["sent"] is True
    assert entry.detail["broken_at"] is None and entry.detail["verified"] >= 1
    mail = OutboxMessage.objects.get(kind=MAIL_KIND)
    assert mail.to == "datenschutz@example.de" and mail.object_id == str(head_id)
    assert f"--expect-head {head_id}:{entry.hash}" in mail.body
    for personal in (case.reference, case.given_name, case.family_name, coordinator.username):
        assert personal not in mail.body and personal not in mail.subject
    # What the DPO later runs with the head from the mail:
    call_command("verify_audit_log", expect_head=f"{head_id}:{entry.hash}")


def test_without_a_dpo_address_the_head_is_still_logged_with_a_warning(db, caplog) -> None:
    _set_dpo("")
    audit_log(actor=None, action="test.one")
    with caplog.at_level(logging.WARNING, logger="coordination.audit_head"):
        head = audit_head_send()
    assert AuditEntry.objects.get(pk=head.id).detail["sent"] is False
    assert not OutboxMessage.objects.exists()
    assert "no data-protection officer's e-mail" in caplog.text


def test_a_broken_chain_is_reported_in_the_head_and_the_mail(db) -> None:
    from tests.coordination.test_audit import _tamper

    _set_dpo("datenschutz@example.de")
    entries = [audit_log(actor=None, action=f"test.{i}") for i in range(3)]
    _tamper("UPDATE coordination_auditentry SET action = 'x' WHERE id = %s", [entries[1].id])
    head = audit_head_send()
    assert AuditEntry.objects.get(pk=head.id).detail["broken_at"] == entries[1].id
    body = OutboxMessage.objects.get(kind=MAIL_KIND).body
    assert f"{entries[1].id} (this entry was changed)" in body


def test_the_head_is_scheduled_nightly_after_the_retention_run(settings) -> None:
    schedule = settings.CELERY_BEAT_SCHEDULE["nightly-audit-head"]
    assert schedule["task"] == "coordination.tasks.send_audit_head"
    assert (schedule["schedule"].hour, schedule["schedule"].minute) == ({2}, {45})


@pytest.mark.parametrize("language", ["de", "en"])
def test_the_mail_is_in_the_office_language(db, settings, language) -> None:
    settings.LANGUAGE_CODE = language
    _set_dpo("datenschutz@example.de")
    audit_head_send()
    body = OutboxMessage.objects.get(kind=MAIL_KIND).body
    assert ("Prüfwert" in body) == (language == "de")
