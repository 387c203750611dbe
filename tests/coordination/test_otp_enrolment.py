"""Administrators must use a second factor by default; a user whose role requires one sets up
the first device only with a one-time enrolment code from an administrator."""

from __future__ import annotations

import base64
import datetime as dt
import io
import re

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from coordination.devotp import current_code
from coordination.models import AuditEntry, EnrolmentCode, OfficeSettings, User
from coordination.services import (
    ENROLMENT_CODE_MAX_ATTEMPTS,
    enrolment_code_issue,
    enrolment_code_redeem,
)
from tests.factories import UserFactory
from tests.second_factor import log_in

T0 = dt.datetime(2025, 4, 1, 8, 0, tzinfo=dt.UTC)
INVALID = "This code is not valid"


@pytest.fixture
def new_admin(db) -> User:
    """An administrator without a device (the demo and test admins have one)."""
    return UserFactory(role="administrator", username="neu", is_staff=True, language="en")


def _logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _actions(user: User) -> list[str]:
    entries = AuditEntry.objects.filter(object_id=str(user.pk), action__startswith="auth.")
    return list(entries.order_by("id").values_list("action", flat=True))


# --- the default ---------------------------------------------------------------------------


def test_administrators_must_use_a_second_factor_by_default(db) -> None:
    assert OfficeSettings.current().otp_required_roles == ["administrator"]


def test_an_administrator_without_a_device_is_sent_to_the_enrolment_code(new_admin) -> None:
    response = _logged_in(new_admin).get(reverse("admin:index"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("otp_enrol"))


def test_a_superuser_without_the_administrator_role_counts_as_an_administrator(db) -> None:
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    response = _logged_in(root).get(reverse("admin:index"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("otp_enrol"))


def test_other_roles_are_not_asked_by_default(client, coordinator) -> None:
    client.force_login(coordinator)
    assert client.get(reverse("cases:dashboard")).status_code == 200


def test_the_migration_adds_administrators_to_an_existing_settings_row(db) -> None:
    from django.apps import apps as global_apps
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(connection)
    key = next(k for k in loader.disk_migrations if k[1].endswith("_otp_admin_default"))
    migration = loader.get_migration(*key)
    step = next(op for op in migration.operations if hasattr(op, "code"))
    office = OfficeSettings.current()
    office.otp_required_roles = ["management"]
    office.save()
    step.code(global_apps, None)
    assert OfficeSettings.objects.get().otp_required_roles == ["management", "administrator"]
    step.code(global_apps, None)  # a second run changes nothing
    assert OfficeSettings.objects.get().otp_required_roles == ["management", "administrator"]


# --- the password alone never reaches the secret ------------------------------------------


def test_a_required_user_cannot_reach_the_secret_with_the_password_alone(new_admin) -> None:
    client = _logged_in(new_admin)
    page = client.get(reverse("otp_setup"))
    assert page.status_code == 302 and page["Location"].startswith(reverse("otp_enrol"))
    posted = client.post(reverse("otp_setup"), {"token": "123456"})
    assert posted.status_code == 302 and posted["Location"].startswith(reverse("otp_enrol"))
    assert not TOTPDevice.objects.filter(user=new_admin).exists()
    assert client.get(reverse("otp_verify")).status_code == 302  # no device: back to the code


def test_with_a_valid_code_the_user_sets_up_the_device_and_gets_in(new_admin) -> None:
    code, _until = enrolment_code_issue(user=new_admin)
    client = _logged_in(new_admin)
    with time_machine.travel(T0, tick=False):
        entered = client.post(reverse("otp_enrol"), {"code": code.lower(), "next": "/admin/"})
        assert entered.status_code == 302
        assert entered["Location"].startswith(reverse("otp_setup"))
        page = client.get(entered["Location"])
        assert page.status_code == 200 and "otpauth://totp/" in page.content.decode()
        device = TOTPDevice.objects.get(user=new_admin, confirmed=False)
        done = client.post(reverse("otp_setup"), {"token": current_code(device), "next": "/admin/"})
        assert done.status_code == 302 and done["Location"] == "/admin/"
        assert client.get(reverse("admin:index")).status_code == 200
    assert TOTPDevice.objects.get(user=new_admin).confirmed
    assert EnrolmentCode.objects.get(user=new_admin).used_at is not None


def test_a_secret_shown_before_the_code_is_not_the_one_set_up(new_admin) -> None:
    early = TOTPDevice.objects.create(user=new_admin, name="early", confirmed=False)
    code, _until = enrolment_code_issue(user=new_admin)
    client = _logged_in(new_admin)
    client.post(reverse("otp_enrol"), {"code": code})
    client.get(reverse("otp_setup"))
    device = TOTPDevice.objects.get(user=new_admin, confirmed=False)
    assert device.pk != early.pk and device.key != early.key


def test_a_code_works_once(new_admin) -> None:
    code, _until = enrolment_code_issue(user=new_admin)
    assert enrolment_code_redeem(user=new_admin, code=code)
    second = _logged_in(new_admin).post(reverse("otp_enrol"), {"code": code})
    assert second.status_code == 200 and INVALID in second.content.decode()


def test_a_code_expires_after_72_hours(new_admin) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        code, until = enrolment_code_issue(user=new_admin)
        assert until == T0 + dt.timedelta(hours=72)
        traveller.shift(dt.timedelta(hours=72, seconds=1))
        assert not enrolment_code_redeem(user=new_admin, code=code)
    entry = AuditEntry.objects.filter(action="auth.enrolment_code_failed").latest("id")
    assert entry.detail == {"reason": "expired"}


def test_a_new_code_voids_the_earlier_one(new_admin) -> None:
    first, _until = enrolment_code_issue(user=new_admin)
    second, _until = enrolment_code_issue(user=new_admin)
    assert not enrolment_code_redeem(user=new_admin, code=first)
    assert enrolment_code_redeem(user=new_admin, code=second)


def test_the_code_is_stored_only_as_a_hash(new_admin) -> None:
    code, _until = enrolment_code_issue(user=new_admin)
    row = EnrolmentCode.objects.get(user=new_admin)
    plain = code.replace("-", "")
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", code)
    assert plain not in row.code_hash and code not in row.code_hash
    assert row.code_hash.startswith(("pbkdf2", "argon2", "md5", "bcrypt", "scrypt"))
    logged = AuditEntry.objects.filter(object_id=str(new_admin.pk))
    assert all(plain not in str(e.detail) for e in logged)


def test_wrong_codes_are_counted_and_void_the_code_at_the_limit(new_admin) -> None:
    code, _until = enrolment_code_issue(user=new_admin)
    client = _logged_in(new_admin)
    for _try in range(ENROLMENT_CODE_MAX_ATTEMPTS):
        wrong = client.post(reverse("otp_enrol"), {"code": "AAAA-AAAA-AAAA"})
        assert wrong.status_code == 200 and INVALID in wrong.content.decode()
    assert EnrolmentCode.objects.get(user=new_admin).failed_attempts == ENROLMENT_CODE_MAX_ATTEMPTS
    late = client.post(reverse("otp_enrol"), {"code": code})
    assert late.status_code == 200 and INVALID in late.content.decode()
    entry = AuditEntry.objects.filter(action="auth.enrolment_code_failed").latest("id")
    assert entry.detail == {"reason": "too_many_attempts"}


def test_the_answer_is_the_same_without_any_code(new_admin) -> None:
    client = _logged_in(new_admin)
    without = client.post(reverse("otp_enrol"), {"code": "AAAA-AAAA-AAAA"})
    enrolment_code_issue(user=new_admin)
    wrong = client.post(reverse("otp_enrol"), {"code": "AAAA-AAAA-AAAA"})
    assert without.context["form"].errors == wrong.context["form"].errors


def test_issuing_using_and_failing_are_audited(new_admin, admin_user_role) -> None:
    code, _until = enrolment_code_issue(user=new_admin, by=admin_user_role)
    enrolment_code_redeem(user=new_admin, code="AAAA-AAAA-AAAA")
    enrolment_code_redeem(user=new_admin, code=code)
    assert _actions(new_admin) == [
        "auth.enrolment_code_issued",
        "auth.enrolment_code_failed",
        "auth.enrolment_code_used",
    ]
    issued = AuditEntry.objects.get(action="auth.enrolment_code_issued")
    assert issued.actor_id == admin_user_role.pk


def test_a_voluntary_user_sets_up_a_device_with_the_password_alone(client, coordinator) -> None:
    client.force_login(coordinator)
    page = client.get(reverse("otp_setup"))
    assert page.status_code == 200 and "otpauth://totp/" in page.content.decode()
    assert client.get(reverse("otp_enrol")).status_code == 302


# --- the administrator issues a code -------------------------------------------------------


def _issue_in_admin(client: Client, *users: User):  # type: ignore[no-untyped-def]
    return client.post(
        reverse("admin:coordination_user_changelist"),
        {"action": "issue_enrolment_code", "_selected_action": [u.pk for u in users]},
    )


def test_an_administrator_issues_a_code_shown_once_in_the_admin(admin_user_role, new_admin):
    client = log_in(Client(), admin_user_role)
    response = _issue_in_admin(client, new_admin)
    assert response.status_code == 200
    code = re.search(r"<code>([A-Z2-9-]{14})</code>", response.content.decode()).group(1)  # type: ignore[union-attr]
    assert enrolment_code_redeem(user=new_admin, code=code)
    issued = AuditEntry.objects.get(action="auth.enrolment_code_issued")
    assert issued.actor_id == admin_user_role.pk and issued.object_id == str(new_admin.pk)
    listing = client.get(reverse("admin:coordination_user_changelist"))
    assert code not in listing.content.decode()


def test_the_admin_issues_no_code_for_a_user_who_has_a_device(admin_user_role, coordinator):
    TOTPDevice.objects.create(user=coordinator, name="phone", confirmed=True)
    client = log_in(Client(), admin_user_role)
    response = _issue_in_admin(client, coordinator)
    assert response.status_code == 302
    assert not EnrolmentCode.objects.filter(user=coordinator).exists()


def test_the_admin_action_is_labelled_in_german(admin_user_role) -> None:
    admin_user_role.language = "de"
    admin_user_role.save()
    client = log_in(Client(), admin_user_role)
    page = client.get(reverse("admin:coordination_user_changelist"))
    assert "Einrichtungscode ausstellen" in page.content.decode()


# --- the bootstrap command -----------------------------------------------------------------


def _command(*args: str) -> str:
    out = io.StringIO()
    call_command("issue_enrolment_code", *args, stdout=out)
    return out.getvalue()


def test_the_command_prints_a_code_for_the_first_administrator(new_admin) -> None:
    printed = _command("neu")
    code = re.search(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", printed).group(0)  # type: ignore[union-attr]
    assert enrolment_code_redeem(user=new_admin, code=code)
    issued = AuditEntry.objects.get(action="auth.enrolment_code_issued")
    assert issued.actor_id is None and issued.actor_name.startswith("manage.py")


def test_the_command_refuses_an_unknown_user_and_a_user_with_a_device(new_admin) -> None:
    with pytest.raises(CommandError, match="no user"):
        _command("gibt-es-nicht")
    TOTPDevice.objects.create(user=new_admin, name="phone", confirmed=True)
    with pytest.raises(CommandError, match="--remove-devices"):
        _command("neu")


def test_the_command_replaces_a_lost_device_when_asked(new_admin) -> None:
    TOTPDevice.objects.create(user=new_admin, name="lost", confirmed=True)
    printed = _command("neu", "--remove-devices")
    assert "Enrolment code for neu" in printed
    assert not TOTPDevice.objects.filter(user=new_admin).exists()
    assert "auth.otp_devices_removed" in _actions(new_admin)


# --- the demo data -------------------------------------------------------------------------


def test_seed_demo_prints_the_admins_secret_and_the_device_works(db, settings) -> None:
    settings.DEBUG = True
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    secret = re.search(r"secret ([A-Z2-7]{32})", out.getvalue()).group(1)  # type: ignore[union-attr]
    assert "coordination.devotp admin" in out.getvalue()
    device = TOTPDevice.objects.get(user__username="admin", confirmed=True)
    assert base64.b32decode(secret) == device.bin_key
    with time_machine.travel(T0, tick=False):
        app = TOTP(base64.b32decode(secret))  # an authenticator app's defaults
        app.time = T0.timestamp()
        assert device.verify_token(f"{app.token():06d}")
    again = io.StringIO()
    call_command("seed_demo", stdout=again)  # a second run keeps the device and its secret
    assert secret in again.getvalue()
    assert TOTPDevice.objects.filter(user__username="admin").count() == 1


def test_devotp_prints_the_current_code_of_the_demo_admin(db, settings, capsys) -> None:
    from coordination import devotp

    settings.DEBUG = True
    admin = UserFactory(username="admin", role="administrator")
    device = TOTPDevice.objects.create(user=admin, name="Demo", confirmed=True)
    with time_machine.travel(T0, tick=False):
        assert devotp.main(["admin"]) == 0
        assert device.verify_token(capsys.readouterr().out.strip())
    settings.DEBUG = False
    assert devotp.main(["admin"]) == 2
