"""Every page of every role, at 1280 px and at 375 px: no sideways scrolling, no serious or
critical axe violation, and no English word in the German interface.

The world is the URL-permission walk's (``build_role_world``): one user per role with the
objects that belong to them. Each role's browser gets the session of a test client that
logged in (the administrator's verified with a second factor, tests/second_factor.py), so
the walk spends its time on the pages, not on the login form (tests/e2e/test_pages.py drives
that). All problems are collected and reported together.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.e2e.axe import run_axe
from tests.e2e.conftest import _TOO_WIDE
from tests.second_factor import log_in

pytestmark = pytest.mark.e2e

WIDTHS = (1280, 375)
# Words that give an English page away. Short and common on purpose: a German page has none
# of them as a word of its own (checked on the visible text, outside lang="en" elements).
ENGLISH = {
    "the",
    "and",
    "please",
    "save",
    "cancel",
    "search",
    "case",
    "cases",
    "referral",
    "referrals",
    "figures",
    "settings",
    "user",
    "users",
    "password",
    "log",
    "login",
    "logout",
    "page",
    "found",
    "you",
    "your",
    "with",
    "from",
    "this",
    "that",
    "there",
    "are",
    "is",
    "of",
    "to",
    "for",
    "add",
    "change",
    "delete",
    "view",
    "history",
    "select",
    "action",
    "actions",
    "go",
    "yes",
    "no",
    "none",
    "all",
    "new",
    "edit",
    "back",
    "next",
    "previous",
    "show",
    "hide",
    "state",
    "status",
    "date",
    "time",
    "district",
    "school",
    "team",
    "teams",
    "devices",
    "device",
    "confirmed",
    "updated",
    "created",
    "by",
    "name",
    "key",
    "step",
    "tolerance",
    "digits",
    "attempts",
    "failed",
    "welcome",
    "documentation",
    "recent",
    "my",
    "site",
    "groups",
    "permissions",
}
# Names and codes that are the same in both languages.
ALLOWED = {"Ankommen", "KERN", "CSV", "XLSX", "TOTP", "Kita", "Team", "Teams", "Status", "Name"}
_ALLOWED_LOWER = {word.lower() for word in ALLOWED}
_WORDS = re.compile(r"[A-Za-zÄÖÜäöüß]+")
# What a reader sees (innerText: no closed <details>, no hidden elements), without the parts
# that are English on purpose (lang="en", e.g. the "English" button) and codes (<code>).
_VISIBLE_TEXT = """() => {
  let text = document.body.innerText;
  for (const el of document.body.querySelectorAll('[lang]:not([lang^="de"]), code')) {
    const part = el.innerText;
    if (part) { text = text.replace(part, ' '); }
  }
  return text;
}"""
# Paths, addresses and file names are no words of the interface.
_NOT_WORDS = re.compile(r"\S*[/@]\S*|\S+\.(?:csv|xlsx|json)\b")


def english_words(text: str) -> list[str]:
    """The English words of ``text`` (names of the allow-list and paths are spared)."""
    found = []
    for word in _WORDS.findall(_NOT_WORDS.sub(" ", text)):
        if word.lower() in _ALLOWED_LOWER:  # also in capitals (CSS text-transform)
            continue
        if word.lower() in ENGLISH and word not in found:
            found.append(word)
    return found


def test_the_english_word_check_finds_english_and_spares_names() -> None:
    assert english_words("Please enter the password") == ["Please", "the", "password"]
    assert english_words("Ankommen \N{EN DASH} Fälle des Teams Nord, Status: offen") == []
    assert english_words("Pfad /login/, an user@example.org, Datei figures.csv") == []


def _pages(w: Any) -> dict[str, list[tuple[str, str]]]:
    """(label, URL) of every page of each role, with the world's objects."""
    case, referral = w.case.pk, w.referral.pk
    coordinator = [
        ("dashboard", reverse("cases:dashboard")),
        ("case list", reverse("cases:list")),
        ("register", reverse("cases:register")),
        ("case", reverse("cases:detail", args=[case])),
        ("edit case", reverse("cases:edit", args=[case])),
        ("transfer case", reverse("cases:transfer", args=[case])),
        ("family contact", reverse("cases:guardian_add", args=[case])),
        ("copy of the data", reverse("cases:access_report", args=[case])),
        ("new referral", reverse("referrals:create", args=[w.ready_case.pk])),
        ("referral", reverse("referrals:detail", args=[referral])),
        ("withdraw referral", reverse("referrals:withdraw", args=[referral])),
        ("figures", reverse("figures")),
    ]
    staff = [
        ("inbox", reverse("referrals:inbox")),
        ("all referrals", reverse("referrals:inbox") + "?show=all"),
        ("free places", reverse("referrals:places")),
    ]
    return {
        "coordinator_own_team": coordinator,
        "school_referred": [*staff, ("referral", reverse("referrals:detail", args=[referral]))],
        "kita": staff,
        "management": [
            ("figures", reverse("figures")),
            ("figures print", reverse("figures_print")),
        ],
        "administrator": [
            ("administration", reverse("administration:start")),
            ("audit log", reverse("audit_search")),
            ("retention", reverse("cases:retention")),
            ("duplicates", reverse("cases:duplicates")),
            ("figures", reverse("figures")),
            ("django admin", reverse("admin:index")),
            ("admin users", reverse("admin:coordination_user_changelist")),
            ("admin devices", reverse("admin:otp_totp_totpdevice_changelist")),
            ("admin device", reverse("admin:otp_totp_totpdevice_change", args=[w.device.pk])),
            ("admin locked", reverse("admin:axes_accessattempt_changelist")),
        ],
        "anonymous": [("login", reverse("login")), ("not found", "/gibt-es-nicht/")],
    }


def _check_page(page: Any, label: str, width: int, problems: list[str]) -> None:
    where = f"{label} at {width} px <{page.url}>"
    wide = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    if wide > 1:
        culprits = page.evaluate(_TOO_WIDE)
        problems.append(f"{where}: scrolls sideways by {wide} px ({culprits})")
    report = run_axe(page, label=where)
    if report.blocking:
        problems.append(report.describe())
    if page.evaluate("() => document.documentElement.lang") == "de":
        text = page.evaluate(_VISIBLE_TEXT)
        english = english_words(text)
        if english:
            context = [
                " ".join(m.group(0).split())
                for m in re.finditer(rf".{{0,40}}{re.escape(english[0])}.{{0,40}}", text)
            ][:2]
            problems.append(f"{where}: English words in the German interface: {english} {context}")


def test_every_page_of_every_role_fits_is_accessible_and_german(
    browser: Any, live_server: Any, transactional_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from coordination import health
    from tests.factories import build_role_world

    monkeypatch.setattr(health, "broker_ok", lambda timeout=2.0: True)
    world = build_role_world()
    problems: list[str] = []
    visited = 0
    for role, pages in _pages(world).items():
        context = browser.new_context(
            base_url=live_server.url, locale="de-DE", timezone_id="Europe/Berlin"
        )
        context.add_init_script(path=str(_axe_script()))
        if role != "anonymous":
            client = log_in(Client(), world.users[role])
            cookie = client.cookies[settings.SESSION_COOKIE_NAME]
            context.add_cookies(
                [{"name": cookie.key, "value": cookie.value, "url": live_server.url}]
            )
        page = context.new_page()
        page.on("pageerror", _record(problems, role, "JavaScript error"))
        try:
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                for label, url in pages:
                    response = page.goto(url)
                    status = response.status if response is not None else 0
                    expected = 404 if label == "not found" else 200
                    if status != expected:
                        problems.append(f"[{role}] {label} <{url}>: HTTP {status}")
                        continue
                    _check_page(page, f"[{role}] {label}", width, problems)
                    visited += 1
        finally:
            context.close()
    assert visited >= 2 * 30
    assert not problems, f"{len(problems)} problem(s):\n\n" + "\n\n".join(problems)


def _axe_script() -> Any:
    from tests.e2e.conftest import AXE_SCRIPT

    return AXE_SCRIPT


def _record(problems: list[str], role: str, what: str) -> Callable[[Any], None]:
    def record(error: Any) -> None:
        problems.append(f"[{role}] {what}: {error}")

    return record
