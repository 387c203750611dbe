"""manage.py rotate_field_keys: re-encryption with the active key, resumable, --check."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from cases.models import Case, CaseEvent, Guardian
from coordination.crypto import key_id_of
from coordination.management.commands import rotate_field_keys
from tests.factories import CaseFactory

T1 = "t1:dGVzdC1rZXktb25lLXRlc3Qta2V5LW9uZS10ZXN0LWs="
T0 = "t0:b2xkLXRlc3Qta2V5LW9sZC10ZXN0LWtleS1vbGQtdGU="


def raw_tokens(table: str, column: str) -> list[bytes]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL ORDER BY id"  # noqa: S608
        )
        return [row[0] for row in cursor.fetchall()]


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("rotate_field_keys", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def old_cases(settings, coordinator, district):
    """Three cases (with guardians and history) written while t0 was the active key."""
    settings.FIELD_ENCRYPTION_KEYS = f"{T0},{T1}"
    cases = [
        CaseFactory(
            coordinator=coordinator,
            district=district,
            family_name=name,
            notes=f"Notiz {name}",
            clarification=True,
        )
        for name in ("Haddad", "Kovalenko", "Ahmadi")
    ]
    for case in cases:
        Guardian.objects.create(
            family=case.family, relation="mother", name="Mutter", phone="+49 170 1"
        )
    settings.FIELD_ENCRYPTION_KEYS = f"{T1},{T0}"  # the new key goes first
    return cases


def test_check_counts_old_values_and_fails(old_cases) -> None:
    with pytest.raises(CommandError, match="still encrypted under older keys"):
        run("--check")


def test_rotation_reencrypts_every_encrypted_column_with_the_active_key(old_cases) -> None:
    assert {key_id_of(t) for t in raw_tokens("cases_case", "family_name")} == {"t0"}
    output = run("--batch-size", "2")
    assert "cases.Case: 3 rows to re-encrypt" in output
    assert "cases.Case: 2/3" in output and "cases.Case: 3/3" in output  # progress per batch
    for table, column in [
        ("cases_case", "family_name"),
        ("cases_case", "notes"),
        ("cases_case", "birth_date"),
        ("cases_guardian", "phone"),
    ]:
        assert {key_id_of(t) for t in raw_tokens(table, column)} == {"t1"}
    assert run("--check").strip().startswith("all encrypted values use the active key")
    # The values are unchanged, and readable with only the new key.
    from django.conf import settings

    settings.FIELD_ENCRYPTION_KEYS = T1
    assert sorted(Case.objects.values_list("family_name", flat=True)) == [
        "Ahmadi",
        "Haddad",
        "Kovalenko",
    ]
    assert Case.objects.get(pk=old_cases[0].pk).notes == "Notiz Haddad"
    assert CaseEvent.objects.filter(case=old_cases[0]).count() == 2


def test_an_interrupted_rotation_resumes_and_touches_only_old_values(old_cases, monkeypatch):
    real = rotate_field_keys.Command._rotate_batch
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(rotate_field_keys.Command, "_rotate_batch", staticmethod(flaky))
    with pytest.raises(RuntimeError):
        run("--batch-size", "1")
    monkeypatch.undo()
    first_batch = raw_tokens("cases_case", "family_name")
    assert [key_id_of(t) for t in first_batch] == ["t1", "t0", "t0"]

    output = run("--batch-size", "1")
    assert "cases.Case: 2 rows to re-encrypt" in output
    after = raw_tokens("cases_case", "family_name")
    assert after[0] == first_batch[0]  # already rotated: not written again
    assert {key_id_of(t) for t in after} == {"t1"}
    run("--check")


def test_a_value_changed_meanwhile_is_not_overwritten(old_cases, monkeypatch) -> None:
    """Compare-and-set: the application's newer write wins over the rotation's."""
    target = old_cases[1]
    real = rotate_field_keys.Command._rotate_batch

    def racing(model, fields, keyring, rows):
        if model is Case and target.pk in [row[0] for row in rows]:
            # The coordinator saves a change between the rotation's read and write.
            from cases.services import case_update

            case_update(
                case=Case.objects.get(pk=target.pk),
                by=target.coordinator,
                data={"family_name": "Kowalenko"},
                expected_version=Case.objects.get(pk=target.pk).version,
            )
        return real(model, fields, keyring, rows)

    monkeypatch.setattr(rotate_field_keys.Command, "_rotate_batch", staticmethod(racing))
    run()
    assert Case.objects.get(pk=target.pk).family_name == "Kowalenko"
    run("--check")


def test_a_value_under_an_unknown_key_stops_with_a_clear_error(old_cases, settings) -> None:
    settings.FIELD_ENCRYPTION_KEYS = T1  # t0 dropped too early
    with pytest.raises(CommandError, match="FIELD_ENCRYPTION_KEYS"):
        run()


def test_a_key_id_extending_the_active_one_is_not_taken_for_it(settings, coordinator, district):
    """The database compares the whole header (length byte included): t10 is not t1."""
    t10 = "t10:" + T0.partition(":")[2]
    settings.FIELD_ENCRYPTION_KEYS = f"{t10},{T1}"
    CaseFactory(coordinator=coordinator, district=district, family_name="Haddad")
    settings.FIELD_ENCRYPTION_KEYS = f"{T1},{t10}"
    with pytest.raises(CommandError, match="still encrypted under older keys"):
        run("--check")
    run()
    assert {key_id_of(t) for t in raw_tokens("cases_case", "family_name")} == {"t1"}
    assert Case.objects.get().family_name == "Haddad"


def test_nothing_to_do_when_every_value_uses_the_active_key(coordinator, district) -> None:
    CaseFactory(coordinator=coordinator, district=district)
    assert "done: 0 rows (0 values) re-encrypted" in run()
    run("--check")


def test_batch_size_must_be_positive(db) -> None:
    with pytest.raises(CommandError, match="batch-size"):
        run("--batch-size", "0")


def test_only_the_named_model_is_rotated(old_cases) -> None:
    output = run("--model", "cases.Guardian")
    assert "cases.Guardian: 3 rows to re-encrypt" in output
    assert "cases.Case" not in output
    assert {key_id_of(t) for t in raw_tokens("cases_guardian", "phone")} == {"t1"}
    assert {key_id_of(t) for t in raw_tokens("cases_case", "family_name")} == {"t0"}
    with pytest.raises(CommandError, match=r"no model with encrypted fields: cases\.Nothing"):
        run("--model", "cases.Nothing")


def test_progress_and_total_count_rows_and_values_written(old_cases) -> None:
    output = run("--model", "cases.Case", "--batch-size", "2")
    values = sum(
        1
        for case in old_cases
        for field in rotate_field_keys.encrypted_fields(Case)
        if getattr(Case.objects.get(pk=case.pk), field.attname) not in (None, "")
    )
    assert output.strip().endswith(f"done: 3 rows ({values} values) re-encrypted")


def test_a_batch_stopped_between_its_waves_resumes(old_cases, monkeypatch) -> None:
    """Whatever part of a batch was committed stays; a re-run does the rest, once."""
    real = rotate_field_keys.Command._rotate_batch
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(rotate_field_keys.Command, "_rotate_batch", staticmethod(flaky))
    with pytest.raises(RuntimeError):
        # PostgreSQL: the first batch's second wave; elsewhere: the second batch.
        run("--model", "cases.Case", "--batch-size", "2")
    monkeypatch.undo()
    before = raw_tokens("cases_case", "family_name")
    done_first = [t for t in before if key_id_of(t) == "t1"]
    assert 0 < len(done_first) < 3  # part of the work was committed
    run("--model", "cases.Case", "--batch-size", "2")
    after = raw_tokens("cases_case", "family_name")
    assert {key_id_of(t) for t in after} == {"t1"}
    assert all(t in after for t in done_first)  # not written again


def test_waves_hold_at_most_one_share_of_each_block_largest_rows_first() -> None:
    waves = rotate_field_keys
    # (pk, token, block): block 7 holds four rows, block 8 one.
    rows = [
        (1, b"x" * 10, 7),
        (2, b"x" * 40, 7),
        (3, None, 7),
        (4, b"x" * 20, 7),
        (5, b"x" * 5, 8),
    ]
    split = waves._waves(rows)
    assert [[r[0] for r in wave] for wave in split] == [[2, 5], [4], [1], [3]]
    assert all(len(r) == 2 for wave in split for r in wave)  # the block is dropped
    many = [(pk, b"x", 1) for pk in range(1, 13)]
    split = waves._waves(many)
    assert len(split) == waves.MAX_WAVES
    assert sorted(r[0] for wave in split for r in wave) == list(range(1, 13))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_split_the_ids_and_rotate_every_row(settings, coordinator, district) -> None:
    settings.FIELD_ENCRYPTION_KEYS = f"{T0},{T1}"
    names = [f"Familie{i}" for i in range(9)]
    for name in names:
        CaseFactory(coordinator=coordinator, district=district, family_name=name)
    settings.FIELD_ENCRYPTION_KEYS = f"{T1},{T0}"
    ids = list(Case.objects.order_by("pk").values_list("pk", flat=True))
    ranges = rotate_field_keys._id_ranges(Case.objects.all(), 2)
    assert ranges == [(None, ids[3]), (ids[3], None)]  # id > after, id <= up_to

    output = run("--model", "cases.Case", "--workers", "2", "--batch-size", "2")
    assert "done: 9 rows" in output
    assert {key_id_of(t) for t in raw_tokens("cases_case", "family_name")} == {"t1"}
    settings.FIELD_ENCRYPTION_KEYS = T1
    assert sorted(Case.objects.values_list("family_name", flat=True)) == sorted(names)


def test_workers_must_be_positive(db) -> None:
    with pytest.raises(CommandError, match="workers"):
        run("--workers", "0")


@pytest.mark.postgres
def test_blind_index_columns_have_no_pattern_ops_index(db) -> None:
    """Every index is maintained on every rewrite of a row (rotation rewrites them all): a
    blind index needs its plain index only (cases 0009)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'cases_case' "
            "AND indexdef LIKE '%%pattern_ops%%'"
        )
        names = [row[0] for row in cursor.fetchall()]
    assert names and not [n for n in names if "bidx" in n]
