"""The benchmark harness works: generator, page timing, crypto, sweep and the report, at 20 cases.

Speed is never asserted here (issue 9: speed is checked by ``make bench`` only). This runs on
the test database, SQLite or PostgreSQL, with ``--in-place``: no databases are created, no
gunicorn is started and the key rotation (its own process) is skipped.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from django.db import connection

from benchmarks.__main__ import main
from benchmarks.generate import generate
from benchmarks.pages import page_specs


@pytest.mark.django_db
def test_generator_writes_encrypted_cases_with_blind_indexes() -> None:
    from cases.identity import blind
    from cases.models import Case
    from coordination.crypto import get_keyring, key_id_of
    from referrals.models import Referral, ReminderLog

    generated = generate(20, seed=3, jobs=1)

    assert generated.counts["case"] == 20
    assert Case.objects.count() == 20
    assert generated.counts["event"] >= 20
    case = Case.objects.order_by("id").first()
    assert case is not None
    # the stored value is a token of the active key; the field decrypts it
    with connection.cursor() as cursor:
        cursor.execute("SELECT family_name FROM cases_case WHERE id = %s", [case.pk])
        stored = cursor.fetchone()[0]
    assert stored != case.family_name
    assert key_id_of(stored) == get_keyring().active_id
    assert case.bidx_family == blind(case.family_name, purpose="family")
    assert len(set(Case.objects.values_list("reference", flat=True))) == 20
    assert Referral.objects.count() == generated.counts["referral"]
    assert ReminderLog.objects.count() == generated.counts["reminder"]


@pytest.mark.django_db
def test_harness_runs_end_to_end_at_tiny_size(tmp_path: Path) -> None:
    code = main([
        "--cases", "20", "--in-place", "--quick", "--skip-load", "--skip-rotation",
        "--requests", "2", "--warmup", "0", "--crypto-values", "300", "--import-rows", "10",
        "--output-dir", str(tmp_path),
    ])  # fmt: skip

    assert code == 0
    data = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    result = data["results"]["20"]
    assert result["dataset"]["counts"]["case"] == 20
    pages = result["pages"]
    assert set(pages) == {spec.key for spec in page_specs()}
    for page in pages.values():
        assert page["skipped"] or page["requests"] == 2
    assert data["crypto"]["implementations"]["ours"]["decrypt_per_second"] > 0
    assert pages["figures_new"]["status"] == {"200": 2}
    job = result["figures_job"]
    assert job["pages_built"] == 6 and job["seconds"] >= job["figures_seconds"] > 0
    assert "sweep" in result
    assert data["targets"]
    report = (tmp_path / "latest.md").read_text(encoding="utf-8")
    assert "Pages" in report and "Figures computation by the worker" in report


@pytest.mark.django_db
def test_generated_audit_log_is_realistic_and_one_intact_chain() -> None:
    from coordination.audit import verify_chain_report
    from coordination.models import AuditEntry

    generated = generate(30, seed=5, jobs=1)

    entries = list(AuditEntry.objects.order_by("id"))
    assert generated.counts["audit"] == len(entries) >= 20 * 30
    assert verify_chain_report().ok
    # in time order, as the log is written
    assert all(a.at <= b.at for a, b in itertools.pairwise(entries))
    actions = {e.action for e in entries}
    assert {"case.create", "case.view", "case.transition", "case.update", "referral.created",
            "referral.view", "auth.login"} <= actions  # fmt: skip
    assert sum(e.action == "case.create" for e in entries) == 30
    # the institution staff read the referrals; lists name several cases in one entry
    views = [e for e in entries if e.action == "referral.view"]
    assert views and all(e.roles == "institution_staff" for e in views)
    assert any(len(e.detail.get("references", [])) > 1 for e in entries)


@pytest.mark.django_db
def test_generated_audit_log_cannot_be_altered_unnoticed() -> None:
    """The generated chain is a real one: changing an entry's content breaks it there."""
    from coordination.audit import verify_chain_report
    from coordination.models import AuditEntry

    generate(5, seed=9, jobs=1)
    victim = AuditEntry.objects.order_by("id")[10]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE coordination_auditentry DISABLE TRIGGER USER")
        cursor.execute(
            "UPDATE coordination_auditentry SET action = 'case.view' WHERE id = %s "
            "AND action <> 'case.view'",
            [victim.pk],
        )
        if cursor.rowcount == 0:
            cursor.execute(
                "UPDATE coordination_auditentry SET action = 'case.update' WHERE id = %s",
                [victim.pk],
            )
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE coordination_auditentry ENABLE TRIGGER USER")

    report = verify_chain_report()
    assert not report.ok and report.broken is not None and report.broken.pk == victim.pk


def _run(started: str, sizes: list[int], pages_ms: dict[int, float]) -> dict:
    return {
        "started_at": started, "finished_at": started, "wall_seconds": 600.0,
        "args": {"sizes": sizes, "quick": False}, "sizes": sizes,
        "machine": {"cpu_count": 2, "memory_gib": 24, "python": "3", "django": "5",
                    "load_average_start": [1.0], "load_average_end": [1.0]},
        "crypto": {"implementations": {}},
        "results": {str(s): {
            "dataset": {"counts": {"case": s, "audit": 24 * s}, "bytes": s * 20_000,
                        "phases": {"reference data": 1.0}},
            "pages": {"case_list": {"label": "case list", "queries": 9, "median_ms": pages_ms[s],
                                    "p95_ms": pages_ms[s], "requests": 50}},
        } for s in sizes},
    }  # fmt: skip


def test_report_merges_a_nationwide_run_with_the_sizes_of_the_previous_run() -> None:
    from benchmarks import report

    previous = _run("2026-12-01T10:00:00", [1000, 100000], {1000: 10.0, 100000: 12.0})
    nationwide = _run("2026-12-02T10:00:00", [1000000], {1000000: 30.0})
    nationwide["wall_seconds"] = 3600.0
    del nationwide["crypto"]

    data = report.merge_previous(nationwide, previous)
    data["targets"] = report.check_targets(data)
    table = report.markdown(data)

    assert list(data["results"]) == ["1000", "100000", "1000000"]
    assert data["kept_from_earlier_runs"] == [1000, 100000]
    assert data["results"]["100000"]["run"]["started_at"] == "2026-12-01T10:00:00"
    assert data["results"]["1000000"]["run"]["started_at"] == "2026-12-02T10:00:00"
    assert data["crypto"]["kept_from_run"] == "2026-12-01T10:00:00"
    checks = {c["target"]: c for c in data["targets"]}
    # both larger sizes against 1,000; the 1,000,000 one measured in another run
    assert checks["case list: median at 100,000 <= 1.5x 1,000"]["ok"] is True
    big = checks["case list: median at 1,000,000 <= 1.5x 1,000"]
    assert big["ok"] is False and "different runs" in big["detail"]
    # the 15 minutes hold for the default run only; the nationwide run is reported
    walls = [c for c in data["targets"] if "whole run" in c["target"]]
    assert [c["ok"] for c in walls] == [True, None]
    assert "(1,000,000/1,000)" in table and "(100,000/1,000)" in table
    assert "kept from the run of 2026-12-01 10:00" in table
    assert "24,000,000 (24.0)" in table


def test_report_replaces_a_size_measured_again() -> None:
    from benchmarks import report

    previous = _run("2026-12-01T10:00:00", [1000, 100000], {1000: 10.0, 100000: 12.0})
    again = _run("2026-12-02T10:00:00", [1000, 100000], {1000: 11.0, 100000: 13.0})

    data = report.merge_previous(again, previous)

    assert "kept_from_earlier_runs" not in data
    assert data["results"]["1000"]["pages"]["case_list"]["median_ms"] == 11.0
    assert {r["run"]["started_at"] for r in data["results"].values()} == {"2026-12-02T10:00:00"}


def test_nationwide_flag_selects_the_million_size_only() -> None:
    from benchmarks.__main__ import parse_args

    assert parse_args(["--nationwide"]).sizes == [1_000_000]
    assert parse_args([]).sizes == [1000, 100000]
    assert parse_args(["--cases", "1000,100000,1000000"]).sizes == [1000, 100000, 1000000]
