"""The administrators' start page: sections, locked accounts and their unlock, system health."""

from __future__ import annotations

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from administration import selectors
from coordination import health
from coordination.heartbeat import SWEEP, WORKER, heartbeat_record, heartbeats
from coordination.models import AuditEntry, OutboxMessage
from tests.second_factor import log_in

PASSWORD = "correct horse battery staple"


@pytest.fixture
def admin_client(admin_user_role, monkeypatch) -> Client:
    monkeypatch.setattr(health, "broker_ok", lambda timeout=2.0: True)
    return log_in(Client(), admin_user_role)


def _lock(username: str, *, failures: int = 5, minutes_ago: int = 1) -> None:
    attempt = AccessAttempt.objects.create(
        username=username,
        ip_address="203.0.113.9",
        user_agent="test",
        http_accept="*/*",
        path_info="/login/",
        failures_since_start=failures,
    )
    # attempt_time is set on creation (auto_now_add): move it back afterwards.
    AccessAttempt.objects.filter(pk=attempt.pk).update(
        attempt_time=timezone.now() - dt.timedelta(minutes=minutes_ago)
    )


def test_administrators_land_on_their_start_page(admin_client) -> None:
    response = admin_client.get(reverse("home"))
    assert response.status_code == 302 and response["Location"] == reverse("administration:start")


def test_start_page_links_the_administrators_tools_in_german(admin_client) -> None:
    response = admin_client.get(reverse("administration:start"))
    assert response.status_code == 200
    html = response.content.decode()
    for url in (
        reverse("admin:coordination_user_changelist"),
        reverse("admin:otp_totp_totpdevice_changelist"),
        reverse("admin:coordination_team_changelist"),
        reverse("admin:coordination_district_changelist"),
        reverse("admin:referrals_institution_changelist"),
        reverse("admin:coordination_officesettings_changelist"),
        reverse("audit_search"),
        reverse("cases:retention"),
        reverse("cases:duplicates"),
        reverse("admin:coordination_outboxmessage_changelist") + "?state__exact=failed",
    ):
        assert f'href="{url}"' in html, url
    assert "Verwaltung" in html and "Systemzustand" in html and "Gesperrte Konten" in html


def test_start_page_lists_a_locked_account_but_not_an_expired_lock(admin_client, settings):
    settings.AXES_FAILURE_LIMIT = 5
    _lock("lena")
    _lock("old", minutes_ago=int(settings.AXES_COOLOFF_TIME * 60) + 5)
    _lock("almost", failures=2)
    names = [a.username for a in selectors.locked_accounts()]
    assert names == ["lena"]
    html = admin_client.get(reverse("administration:start")).content.decode()
    assert 'name="username" value="lena"' in html and 'value="old"' not in html


def test_unlock_lifts_the_lock_and_is_audited(admin_client, admin_user_role, coordinator) -> None:
    _lock("coord")
    response = admin_client.post(reverse("administration:unlock"), {"username": "coord"})
    assert response.status_code == 302
    assert not AccessAttempt.objects.filter(username="coord").exists()
    entry = AuditEntry.objects.filter(action="auth.unlock").latest("id")
    assert entry.actor_id == admin_user_role.pk
    assert entry.object_type == "coordination.user" and entry.object_id == str(coordinator.pk)
    assert entry.detail == {"username": "coord", "attempts": 1}
    page = admin_client.get(reverse("administration:start")).content.decode()
    assert "coord kann sich wieder anmelden" in page


def test_unlock_lets_the_user_log_in_again(admin_client, coordinator, settings) -> None:
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(3):
        client.post(reverse("login"), {"username": "coord", "password": "wrong-password-1"})
    locked = client.post(reverse("login"), {"username": "coord", "password": PASSWORD})
    assert locked.status_code == 429
    assert [a.username for a in selectors.locked_accounts()] == ["coord"]
    admin_client.post(reverse("administration:unlock"), {"username": "coord"})
    assert (
        client.post(reverse("login"), {"username": "coord", "password": PASSWORD}).status_code
        == 302
    )


def test_unlock_is_a_post_for_administrators_only(client, coordinator) -> None:
    log_in(client, coordinator)
    assert client.post(reverse("administration:unlock"), {"username": "x"}).status_code == 403
    assert client.get(reverse("administration:start")).status_code == 403


def test_system_health_names_the_last_runs_and_the_audit_head(admin_client, settings) -> None:
    OutboxMessage.objects.create(kind="t", to="a@example.org", subject="s", body="b",
                                 message_id="<1@x>", state=OutboxMessage.State.FAILED)  # fmt: skip
    long_ago = timezone.now() - dt.timedelta(days=2)
    heartbeat_record(WORKER)
    heartbeat_record(SWEEP, at=long_ago)
    state = selectors.system_health()
    assert state.database is True and state.broker is True
    assert state.worker.ok is True and state.sweep.ok is False, "a sweep two days old is late"
    assert state.figures.at is None
    head = AuditEntry.objects.latest("id")
    assert state.audit_head.detail.startswith(f"#{head.id} {head.hash[:16]}")
    assert selectors.counts().outbox_failed == 1


def test_the_start_page_costs_a_fixed_number_of_queries(
    admin_client, django_assert_max_num_queries
) -> None:
    for n in range(3):
        _lock(f"user{n}")
        heartbeat_record(WORKER)
    with django_assert_max_num_queries(25):
        assert admin_client.get(reverse("administration:start")).status_code == 200


def test_the_jobs_record_their_heartbeat(db) -> None:
    from coordination.tasks import worker_heartbeat
    from referrals.tasks import sweep_referrals

    worker_heartbeat()
    sweep_referrals()
    beats = heartbeats()
    assert beats[WORKER] is not None and beats[SWEEP] is not None


def test_the_django_admin_is_titled_and_leads_back_to_the_start_page(admin_client) -> None:
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert "Ankommen \N{EN DASH} Verwaltung" in html
    assert f'href="{reverse("administration:start")}"' in html
    for english in ("OTP_TOTP", "TOTP devices", "Otp_Totp", ">Axes<", "AXES"):
        assert english not in html, english


def test_admin_pages_of_the_packages_models_have_german_labels(admin_client) -> None:
    html = admin_client.get(reverse("admin:otp_totp_totpdevice_add")).content.decode()
    for english in ("throttling failure", "last used at", "TOTP device"):
        assert english not in html, english
