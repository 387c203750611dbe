"""The optional TOTP second factor, required per role by an administrator."""

from __future__ import annotations

import datetime as dt

import time_machine
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from coordination.models import AuditEntry, OfficeSettings
from coordination.services import enrolment_code_issue
from tests.second_factor import log_in

T0 = dt.datetime(2025, 4, 1, 8, 0, tzinfo=dt.UTC)


def _require(*roles: str) -> None:
    office = OfficeSettings.current()
    office.otp_required_roles = list(roles)
    office.save()


def _code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift):06d}"  # noqa: E501


def _dashboard(client: Client):  # type: ignore[no-untyped-def]
    return client.get(reverse("cases:dashboard"))


def test_without_a_requirement_nobody_is_asked(client, coordinator) -> None:
    _require()
    client.force_login(coordinator)
    assert _dashboard(client).status_code == 200


def test_a_required_role_is_sent_to_setup_and_gets_in_after_confirming(client, coordinator):
    _require("coordinator")
    code, _until = enrolment_code_issue(user=coordinator)
    client.force_login(coordinator)
    with time_machine.travel(T0, tick=False) as traveller:
        response = _dashboard(client)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("otp_enrol"))
        entered = client.post(reverse("otp_enrol"), {"code": code, "next": "/cases/"})
        assert entered.status_code == 302
        assert entered["Location"].startswith(reverse("otp_setup"))
        page = client.get(entered["Location"])
        assert page.status_code == 200
        device = TOTPDevice.objects.get(user=coordinator, confirmed=False)
        assert "otpauth://totp/" in page.content.decode()
        bad = "000000" if _code(device) != "000000" else "111111"
        wrong = client.post(reverse("otp_setup"), {"token": bad})
        assert wrong.status_code == 200 and wrong.context["form"].errors
        traveller.shift(dt.timedelta(seconds=5))  # past the throttle after one failure
        ok = client.post(reverse("otp_setup"), {"token": _code(device), "next": "/cases/"})
        assert ok.status_code == 302 and ok["Location"] == "/cases/"
        assert _dashboard(client).status_code == 200
    device.refresh_from_db()
    assert device.confirmed
    actions = set(AuditEntry.objects.filter(actor=coordinator).values_list("action", flat=True))
    assert {"auth.otp_setup", "auth.otp_failed", "auth.enrolment_code_used"} <= actions


def test_next_login_asks_for_the_code_and_refuses_a_wrong_one(client, coordinator) -> None:
    _require("coordinator")
    device = TOTPDevice.objects.create(user=coordinator, name="phone", confirmed=True)
    client.force_login(coordinator)
    with time_machine.travel(T0, tick=False) as traveller:
        response = _dashboard(client)
        assert response["Location"].startswith(reverse("otp_verify"))
        bad = client.post(reverse("otp_verify"), {"token": "12ab56"})
        assert bad.status_code == 200 and bad.context["form"].errors
        assert _dashboard(client).status_code == 302
        wrong = "000000" if _code(device) != "000000" else "111111"
        assert client.post(reverse("otp_verify"), {"token": wrong}).status_code == 200
        traveller.shift(dt.timedelta(seconds=5))  # past the throttle after one failure
        good = client.post(reverse("otp_verify"), {"token": _code(device)})
        assert good.status_code == 302
        assert _dashboard(client).status_code == 200
    assert AuditEntry.objects.filter(actor=coordinator, action="auth.otp_verified").exists()


def test_a_used_code_cannot_be_replayed(client, coordinator) -> None:
    device = TOTPDevice.objects.create(user=coordinator, name="phone", confirmed=True)
    with time_machine.travel(T0, tick=False):
        code = _code(device)
        first = Client()
        first.force_login(coordinator)
        assert first.post(reverse("otp_verify"), {"token": code}).status_code == 302
        second = Client()
        second.force_login(coordinator)
        assert second.post(reverse("otp_verify"), {"token": code}).status_code == 200


def test_someone_who_set_up_a_device_voluntarily_must_use_it(client, management_user) -> None:
    TOTPDevice.objects.create(user=management_user, name="phone", confirmed=True)
    client.force_login(management_user)
    response = client.get(reverse("figures"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("otp_verify"))


def test_setup_never_adds_a_second_device_past_the_first(client, coordinator) -> None:
    TOTPDevice.objects.create(user=coordinator, name="phone", confirmed=True)
    client.force_login(coordinator)
    response = client.get(reverse("otp_setup"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("otp_verify"))
    assert TOTPDevice.objects.filter(user=coordinator).count() == 1


def test_other_roles_are_not_asked_when_only_administrators_must(
    client, coordinator, admin_user_role
):
    _require("administrator")
    client.force_login(coordinator)
    assert _dashboard(client).status_code == 200
    admin_client = Client()
    admin_client.force_login(admin_user_role)
    response = admin_client.get(reverse("admin:index"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("otp_enrol"))


def test_logout_and_the_otp_pages_stay_reachable(client, coordinator) -> None:
    _require("coordinator")
    client.force_login(coordinator)
    assert client.get(reverse("otp_enrol")).status_code == 200
    assert client.post(reverse("logout")).status_code == 302


def test_next_must_stay_on_this_site(client, coordinator) -> None:
    device = TOTPDevice.objects.create(user=coordinator, name="phone", confirmed=True)
    client.force_login(coordinator)
    with time_machine.travel(T0, tick=False):
        response = client.post(
            reverse("otp_verify"), {"token": _code(device), "next": "https://evil.example/"}
        )
    assert response.status_code == 302 and response["Location"] == reverse("home")


def test_administrator_chooses_the_roles_in_office_settings(client, admin_user_role) -> None:
    office = OfficeSettings.current()
    log_in(client, admin_user_role)
    url = reverse("admin:coordination_officesettings_change", args=[office.pk])
    page = client.get(url)
    assert page.status_code == 200 and 'value="institution_staff"' in page.content.decode()
    data = {
        f.name: getattr(office, f.name)
        for f in OfficeSettings._meta.fields
        if f.name not in {"id", "otp_required_roles"}
    }
    data["otp_required_roles"] = ["administrator", "management"]
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert sorted(OfficeSettings.objects.get(pk=office.pk).otp_required_roles) == [
        "administrator",
        "management",
    ]
