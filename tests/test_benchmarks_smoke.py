"""The benchmark harness works: generator, page timing, crypto, sweep and the report, at 20 cases.

Speed is never asserted here (issue 9: speed is checked by ``make bench`` only). This runs on
the test database, SQLite or PostgreSQL, with ``--in-place``: no databases are created, no
gunicorn is started and the key rotation (its own process) is skipped.
"""

from __future__ import annotations

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
