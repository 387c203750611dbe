"""Incremental verification of the audit log from a recorded checkpoint (issue 21): the run
starts after the last verified entry, prints its rate, and the checkpoint cannot hide a change."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from coordination.audit import (
    CHECKPOINT_ACTION,
    audit_log,
    entry_digest,
    latest_checkpoint,
    verify_chain_report,
    verify_from_checkpoint,
)
from coordination.models import AuditEntry
from tests.coordination.test_audit import _entries, _tamper


def _verify(capsys: pytest.CaptureFixture[str], *args: str, **options: object) -> str:
    call_command("verify_audit_log", *args, **options)
    return capsys.readouterr().out


def test_a_successful_run_records_a_checkpoint_and_prints_its_rate(db, capsys) -> None:
    last = _entries(3)[-1]
    out = _verify(capsys)
    assert "3 entries verified in" in out and "entries/s" in out and "full, from the first" in out
    checkpoint = latest_checkpoint()
    assert checkpoint is not None
    assert (checkpoint.through_id, checkpoint.through_hash) == (last.id, last.hash)
    holder = AuditEntry.objects.get(pk=checkpoint.entry_id)
    assert holder.action == CHECKPOINT_ACTION and holder.key_id == "a1"
    assert holder.detail["full"] is True and holder.detail["checked"] == 3


def test_the_next_run_walks_only_what_was_written_since(db, capsys) -> None:
    _entries(5)
    _verify(capsys)
    _entries(2)
    out = _verify(capsys)
    # the checkpoint entry itself and the two new ones
    assert "audit log OK: 3 entries verified" in out and "incremental, after checkpoint" in out
    assert " 5 entries verified" not in out and "\n5 entries verified" not in out


def test_a_change_after_the_checkpoint_is_found_by_the_incremental_run(db) -> None:
    _entries(3)
    call_command("verify_audit_log")
    later = _entries(3)
    _tamper("UPDATE coordination_auditentry SET action = 'x' WHERE id = %s", [later[1].id])
    report = verify_from_checkpoint()
    assert report.since is not None
    assert report.broken is not None and report.broken.id == later[1].id
    with pytest.raises(CommandError, match=f"#{later[1].id}"):
        call_command("verify_audit_log")


def test_a_change_before_the_checkpoint_is_found_by_full_not_by_the_incremental_run(db) -> None:
    early = _entries(4)
    call_command("verify_audit_log")
    _tamper("UPDATE coordination_auditentry SET action = 'x' WHERE id = %s", [early[1].id])
    # Honest limit: the incremental run does not read entries before the checkpoint ...
    assert verify_from_checkpoint().ok
    # ... the full run does (and the nightly head walks the whole log every night).
    with pytest.raises(CommandError, match=f"#{early[1].id}"):
        call_command("verify_audit_log", "--full")
    assert verify_from_checkpoint(full=True).broken.id == early[1].id  # type: ignore[union-attr]


def test_a_change_to_the_checkpointed_entry_itself_is_found(db) -> None:
    entries = _entries(3)
    call_command("verify_audit_log")
    _tamper("UPDATE coordination_auditentry SET action = 'x' WHERE id = %s", [entries[-1].id])
    report = verify_from_checkpoint()
    assert report.broken is not None and report.broken.id == entries[-1].id


def test_an_edited_checkpoint_cannot_move_the_start_past_a_change(db) -> None:
    """Someone with the database but without AUDIT_KEY edits the checkpoint to point past an
    entry they changed: the checkpoint's own HMAC no longer matches."""
    _entries(2)
    call_command("verify_audit_log")
    later = _entries(3)
    _tamper("UPDATE coordination_auditentry SET action = 'x' WHERE id = %s", [later[0].id])
    checkpoint = latest_checkpoint()
    assert checkpoint is not None
    _tamper(
        "UPDATE coordination_auditentry SET detail = jsonb_set(jsonb_set(detail, "
        "'{through_id}', to_jsonb(%s::bigint)), '{through_hash}', to_jsonb(%s::text)) "
        "WHERE id = %s",
        [later[1].id, later[1].hash, checkpoint.entry_id],
    )
    report = verify_from_checkpoint()
    assert report.broken is not None and report.broken.id == checkpoint.entry_id
    assert "checkpoint is not a keyed record of an earlier entry" in report.reason


def test_any_edit_of_a_checkpoint_breaks_its_hmac(db) -> None:
    _entries(2)
    call_command("verify_audit_log")
    checkpoint = latest_checkpoint()
    assert checkpoint is not None
    _tamper(
        "UPDATE coordination_auditentry SET detail = jsonb_set(detail, '{unkeyed}', '0') || "
        "'{\"full\": false}' WHERE id = %s",
        [checkpoint.entry_id],
    )
    report = verify_from_checkpoint()
    assert report.broken is not None and report.broken.id == checkpoint.entry_id
    assert report.reason == "the checkpoint entry was changed"


def test_a_forged_checkpoint_without_the_key_is_refused(db) -> None:
    """An appended checkpoint with a plain SHA-256 (all one can compute without the key)."""
    entries = _entries(3)
    _tamper("UPDATE coordination_auditentry SET action = 'x' WHERE id = %s", [entries[0].id])
    forged = AuditEntry(
        action=CHECKPOINT_ACTION,
        prev_hash=entries[-1].hash,
        at=entries[-1].at,
        key_id="",
        detail={"through_id": entries[-1].id, "through_hash": entries[-1].hash},
    )
    forged.hash = entry_digest(forged)
    forged.save(force_insert=True)
    report = verify_from_checkpoint()
    assert report.broken is not None and report.broken.id == forged.id
    assert "forged" in report.reason


def test_a_checkpoint_whose_entry_was_rewritten_is_refused(db) -> None:
    """The entry the checkpoint names was replaced (another hash): the mismatch is reported."""
    entries = _entries(3)
    call_command("verify_audit_log")
    _tamper(
        "UPDATE coordination_auditentry SET hash = %s WHERE id = %s", ["0" * 64, entries[-1].id]
    )
    report = verify_from_checkpoint()
    assert report.broken is not None and report.broken.id == entries[-1].id
    assert "differs from the one recorded" in report.reason


def test_the_nightly_head_is_a_checkpoint_and_a_broken_head_forces_a_full_walk(db) -> None:
    from coordination.audit_head import audit_head_send

    entries = _entries(3)
    head = audit_head_send()
    checkpoint = latest_checkpoint()
    assert checkpoint is not None and checkpoint.entry_id == head.id
    assert checkpoint.through_id == entries[-1].id
    # A change before the checkpoint; the next nightly (full) walk finds it and says so ...
    _tamper("UPDATE coordination_auditentry SET action = 'x' WHERE id = %s", [entries[0].id])
    broken_head = audit_head_send()
    assert AuditEntry.objects.get(pk=broken_head.id).detail["broken_at"] == entries[0].id
    # ... and from then on the default run no longer starts at the older checkpoint.
    report = verify_from_checkpoint()
    assert report.since is None and report.broken.id == entries[0].id  # type: ignore[union-attr]


def test_expect_head_walks_the_whole_log(db, capsys) -> None:
    entries = _entries(3)
    call_command("verify_audit_log")
    _tamper("UPDATE coordination_auditentry SET action = 'x' WHERE id = %s", [entries[0].id])
    with pytest.raises(CommandError, match=f"#{entries[0].id}"):
        call_command("verify_audit_log", expect_head=f"{entries[-1].id}:{entries[-1].hash}")


def test_no_checkpoint_option_and_full_run_agree_with_the_walk(db, capsys) -> None:
    _entries(4)
    out = _verify(capsys, "--full", "--no-checkpoint")
    assert "audit log OK: 4 entries" in out and "checkpoint recorded" not in out
    assert latest_checkpoint() is None
    assert verify_chain_report().checked == 4


def test_a_read_only_role_verifies_without_recording(db, capsys, monkeypatch) -> None:
    from django.db import DatabaseError

    import coordination.management.commands.verify_audit_log as command

    def refuse(report: object) -> None:
        raise DatabaseError("permission denied for table coordination_auditentry")

    _entries(2)
    monkeypatch.setattr(command, "record_checkpoint", refuse)
    out = _verify(capsys)
    assert "audit log OK: 2 entries" in out and "checkpoint not recorded" in out


def test_a_checkpoint_after_an_unkeyed_prefix_is_usable(db) -> None:
    """An installation from before the keyed chain: the checkpoint may name its last unkeyed
    entry; the next run accepts it and still refuses unkeyed entries after keyed ones."""
    from tests.coordination.test_audit import _rewrite

    old = _entries(2)
    prev = ""
    for entry in old:
        entry.prev_hash = prev
        _rewrite(entry, key_id="")
        _tamper("UPDATE coordination_auditentry SET prev_hash = %s WHERE id = %s", [prev, entry.id])
        prev = entry.hash
    report = verify_chain_report()
    assert report.ok and report.unkeyed == 2
    call_command("verify_audit_log")
    audit_log(actor=None, action="test.after")
    report = verify_from_checkpoint()
    assert report.ok and report.since is not None and report.unkeyed == 2


@pytest.mark.parametrize(
    "moment",
    [
        "2025-03-30T01:59:59.000001+00:00",
        "2025-03-30T02:00:00+00:00",
        "2025-07-01T12:00:00.100000+00:00",
        "2025-12-31T23:59:59.999999+00:00",
    ],
)
def test_the_fast_verification_rows_give_the_same_digest_as_the_entry(db, moment) -> None:
    """Verification reads rows (timestamps and JSON as text), not model instances: every
    shape of entry must hash exactly as it did when it was written."""
    import datetime as dt

    import time_machine

    from coordination.audit import _entry_row, _row_digest, _verify_rows

    with time_machine.travel(dt.datetime.fromisoformat(moment), tick=False):
        written = [
            audit_log(actor=None, action="test.plain"),
            audit_log(
                actor=None,
                action="case.view",
                actor_name="Jürgen Groß",
                ip="2001:db8::1",
                fields=["given_name", "family_name"],
                detail={
                    "references": ["NZ-2025-00001", "NZ-2025-00002"],
                    "n": 1.5,
                    "nested": {"b": [1, {"z": None, "a": "ä€😀"}], "a": True},
                },
            ),
            audit_log(actor=None, action="x", ip="10.1.2.3", detail={"view": "detail"}),
        ]
    rows = _verify_rows(written[0].id - 1, 10)
    assert [r[0] for r in rows] == [e.id for e in written]
    for row, entry in zip(rows, written, strict=True):
        assert _row_digest(row) == entry.hash == entry_digest(entry)
        assert _row_digest(_entry_row(AuditEntry.objects.get(pk=entry.pk))) == entry.hash
    assert verify_chain_report().ok
