"""Secure headers, the Content Security Policy, templates without inline code, and the rule that
no admin page shows an encrypted value without an audit entry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib import admin
from django.urls import NoReverseMatch, reverse

from coordination.models import AuditEntry
from tests.factories import CaseFactory, ReferralFactory
from tests.second_factor import log_in

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_DIRS = [ROOT / "templates"] + [
    p for app in ("coordination", "cases", "referrals") if (p := ROOT / app / "templates").is_dir()
]


def _templates() -> list[Path]:
    return sorted(p for d in TEMPLATE_DIRS for p in d.rglob("*.html"))


# --- headers --------------------------------------------------------------------------------


def test_pages_carry_a_strict_content_security_policy(client, db) -> None:
    response = client.get(reverse("login"))
    policy = response["Content-Security-Policy"]
    directives = dict(
        (part.split()[0], part.split()[1:]) for part in policy.split(";") if part.strip()
    )
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_pages_carry_the_secure_headers(client, coordinator) -> None:
    response = client.get(reverse("login"))
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"]


def test_pages_for_a_logged_in_user_are_never_cached(client, coordinator) -> None:
    client.force_login(coordinator)
    response = client.get(reverse("cases:dashboard"))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_production_settings_make_cookies_secure_and_send_hsts() -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        {
            "ANKOMMEN_IGNORE_DOTENV": "1",
            "DEBUG": "0",
            "SECRET_KEY": "s" * 60,
            "FIELD_ENCRYPTION_KEYS": "p1:" + "A" * 43 + "=",
            "BLIND_INDEX_KEY": "B" * 43 + "=",
            "SECURE_SSL_REDIRECT": "1",
        }
    )
    code = (
        "import coordination.settings as s;"
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT,"
        " s.SECURE_HSTS_SECONDS >= 31536000, s.SESSION_COOKIE_HTTPONLY)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["True"] * 5


# --- templates: no inline code (the CSP would block it anyway) ----------------------------

INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]*\s(on[a-z]+|hx-on[:\w-]*)\s*=", re.IGNORECASE)
STYLE_ATTR = re.compile(r"<[^>]*\sstyle\s*=", re.IGNORECASE)
STYLE_TAG = re.compile(r"<style\b", re.IGNORECASE)
JS_URL = re.compile(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)
COMMENTS = re.compile(
    r"\{#.*?#\}|\{%\s*comment\s*%\}.*?\{%\s*endcomment\s*%\}|<!--.*?-->", re.DOTALL
)


@pytest.mark.parametrize("path", _templates(), ids=lambda p: str(p.relative_to(ROOT)))
def test_template_has_no_inline_script_handler_or_style(path: Path) -> None:
    text = COMMENTS.sub("", path.read_text(encoding="utf-8"))
    for name, pattern in [
        ("inline <script>", INLINE_SCRIPT),
        ("on*= handler", EVENT_HANDLER),
        ("style= attribute", STYLE_ATTR),
        ("<style> block", STYLE_TAG),
        ("javascript: URL", JS_URL),
    ]:
        match = pattern.search(text)
        assert match is None, f"{name} in {path.relative_to(ROOT)}: {match.group(0)[:80]!r}"


def test_there_are_templates_to_check() -> None:
    assert len(_templates()) > 10


# --- the admin never shows an encrypted value unlogged ----------------------------------------

SECRETS = {
    "given_name": "Qwertzuiopa",
    "family_name": "Asdfghjklmn",
    "address": "Yxcvbnmstrasse 7",
    "notes": "Geheimnotiz-1234",
    "health_notes": "Diagnose-XYZW",
    "support_notes": "Foerderbedarf-QRST",
    "nationality": "Atlantisch-Nat",
}
GUARDIAN = {
    "name": "Elternteil-Mnbvc",
    "phone": "+49 261 999 111",
    "email": "eltern@geheim.example",
}
MESSAGE = "Nachricht-Poiuz"
COMMENT = "Kommentar-Lkjhg"


@pytest.fixture
def planted(coordinator, institution, school_user):  # type: ignore[no-untyped-def]
    from cases.models import Guardian
    from cases.services import case_transition

    case = CaseFactory(
        coordinator=coordinator, ready=True, district=institution.district, **SECRETS
    )
    Guardian.objects.create(family=case.family, relation="mother", **GUARDIAN)
    case_transition(case=case, by=coordinator, transition="back_to_clarification", comment=COMMENT)
    case_transition(case=case, by=coordinator, transition="mark_ready")
    ReferralFactory(coordinator=coordinator, institution=institution, case=case)
    from referrals.models import Referral

    Referral.objects.filter(case=case).update(message=MESSAGE)
    return case


def _admin_urls() -> list[tuple[str, type]]:
    urls = []
    for model in admin.site._registry:
        label = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        try:
            urls.append((reverse(f"{label}_changelist"), model))
        except NoReverseMatch:
            continue
        obj = model._default_manager.order_by("pk").first()
        if obj is not None:
            urls.append((reverse(f"{label}_change", args=[obj.pk]), model))
    return urls


def test_no_admin_page_shows_an_encrypted_value_without_an_audit_entry(
    client, admin_user_role, planted
) -> None:
    log_in(client, admin_user_role)
    plain = [*SECRETS.values(), *GUARDIAN.values(), MESSAGE, COMMENT]
    checked = 0
    for url, model in _admin_urls():
        before = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
        response = client.get(url)
        assert response.status_code in {200, 302, 403}, url
        body = response.content.decode(errors="replace")
        shown = [p for p in plain if p in body]
        if shown:
            logged = AuditEntry.objects.filter(id__gt=before, actor=admin_user_role).exists()
            assert logged, f"{url} ({model._meta.label}) shows {shown} without an audit entry"
        checked += 1
    assert checked >= 8
