"""Property-based tests of every form: arbitrary text, dates and numbers never give a 500 and
never a partial write.

Each form is found on the page that shows it (the rendered HTML, so the test follows the
templates) and posted with values drawn by hypothesis: valid choices, junk, very long text,
control characters, odd dates and huge numbers. Every example runs in a rolled-back
transaction against the same world. After each POST the row counts of the watched tables
either did not change at all, or changed exactly as one successful save changes them; a form
shown again with errors (or a refusal) must have changed nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.apps import apps
from django.contrib.messages import constants as message_level
from django.db import transaction
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

CO, SO, MG, AD = "coordinator_own_team", "school_referred", "management", "administrator"
WATCHED = (
    "cases.case",
    "cases.family",
    "cases.caseevent",
    "cases.guardian",
    "cases.caseuserobjectpermission",
    "referrals.referral",
    "referrals.reminderlog",
    "referrals.places",
    "referrals.institution",
    "coordination.user",
)
Delta = dict[str, int]


# --- reading forms out of a page ----------------------------------------------------------


@dataclass
class Field:
    name: str
    kind: str  # text, textarea, select, checkbox, radio, hidden, date, number, email, ...
    values: list[str] = field(default_factory=list)  # options / hidden or checkbox values
    multiple: bool = False


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, str, dict[str, Field]]] = []
        self._form: dict[str, Field] | None = None
        self._select: Field | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = {}
            self.forms.append((a.get("action", ""), a.get("method", "get").lower(), self._form))
        if self._form is None:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text").lower()
            if kind in {"submit", "button", "image", "reset", "file"}:
                return
            entry = self._form.setdefault(name, Field(name, kind))
            if kind in {"hidden", "checkbox", "radio"} or a.get("value"):
                entry.values.append(
                    a.get("value", "on") if kind == "checkbox" else a.get("value", "")
                )
        elif tag == "textarea" and name:
            self._form.setdefault(name, Field(name, "textarea"))
        elif tag == "select" and name:
            self._select = self._form.setdefault(
                name, Field(name, "select", multiple="multiple" in a)
            )
        elif tag == "option" and self._select is not None:
            self._select.values.append(a.get("value", ""))
        elif tag == "button" and name and a.get("value"):
            self._form.setdefault(name, Field(name, "radio")).values.append(a["value"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def form_fields(
    html: str, page_url: str, action_url: str, method: str = "post"
) -> dict[str, Field]:
    """The union of the fields of every form on the page that posts to ``action_url``."""
    parser = _FormParser()
    parser.feed(html)
    found: dict[str, Field] = {}
    for action, form_method, fields in parser.forms:
        target = urlsplit(action).path if action else urlsplit(page_url).path
        if target != urlsplit(action_url).path or form_method != method:
            continue
        for name, f in fields.items():
            merged = found.setdefault(name, Field(name, f.kind, multiple=f.multiple))
            merged.values.extend(v for v in f.values if v not in merged.values)
    return found


# --- what hypothesis sends -------------------------------------------------------------------

JUNK = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "-1",
            "1e309",
            "NaN",
            "null",
            "<script>x</script>",
            "' OR 1=1 --",
            "\x00",
            "\u202e",
            "NZ-2025-00001",
            "9" * 30,
        ]
    ),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=500, max_size=3000),
)
DATES = st.one_of(
    st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)).map(dt.date.isoformat),
    st.dates(dt.date(1990, 1, 1), dt.date(2035, 12, 31)).map(dt.date.isoformat),
    st.dates(dt.date(1990, 1, 1), dt.date(2035, 12, 31)).map(lambda d: d.strftime("%d.%m.%Y")),
    st.sampled_from(["2025-02-30", "31.02.2025", "0000-00-00", "2025-13-01"]),
)
NUMBERS = st.one_of(st.integers(-(10**12), 10**12).map(str), st.integers(0, 40).map(str))


def value_strategy(f: Field) -> st.SearchStrategy[Any]:
    if f.kind == "hidden":
        keep = st.sampled_from(f.values) if f.values else st.just("")
        return st.one_of(keep, keep, keep, JUNK)
    if f.kind in {"select", "radio"}:
        choices = [v for v in f.values if v] or [""]
        one = st.one_of(st.sampled_from(choices), st.sampled_from(choices), JUNK)
        return st.lists(one, max_size=3) if f.multiple else one
    if f.kind == "checkbox":
        return st.one_of(st.none(), st.sampled_from(f.values or ["on"]), JUNK)
    if f.kind == "date":
        return st.one_of(DATES, DATES, JUNK)
    if f.kind == "number":
        return st.one_of(NUMBERS, NUMBERS, JUNK)
    if f.kind == "email":
        return st.one_of(st.emails(), JUNK)
    return st.one_of(st.text(max_size=120), JUNK)


def plausible_strategy(f: Field) -> st.SearchStrategy[Any]:
    """A value a careful user would enter (so that saving is exercised too)."""
    if f.kind == "hidden":
        return st.sampled_from(f.values) if f.values else st.just("")
    if f.kind in {"select", "radio"}:
        choices = [v for v in f.values if v] or [""]
        return st.sampled_from(choices)
    if f.kind == "checkbox":
        return st.one_of(st.none(), st.just(f.values[0] if f.values else "on"))
    if f.kind == "date":
        return st.dates(dt.date(2012, 1, 1), dt.date(2019, 12, 31)).map(dt.date.isoformat)
    if f.kind == "number":
        return st.integers(0, 9).map(str)
    if f.kind == "email":
        return st.just("familie@example.org")
    return st.text("abcdefghijklmnopqrstuvwxyzäöüß ", min_size=2, max_size=30).map(
        lambda t: t.strip() or "Name"
    )


def payload_strategy(fields: dict[str, Field]) -> st.SearchStrategy[dict[str, Any]]:
    names = [n for n in sorted(fields) if n != "csrfmiddlewaretoken"]
    wild = st.fixed_dictionaries({}, optional={n: value_strategy(fields[n]) for n in names})
    careful = st.fixed_dictionaries({n: plausible_strategy(fields[n]) for n in names})
    return st.one_of(wild, careful).map(lambda d: {k: v for k, v in d.items() if v is not None})


# --- the forms -----------------------------------------------------------------------------


def _exactly(**expected: int) -> Callable[[Delta], bool]:
    wanted = {k.replace("__", "."): v for k, v in expected.items() if v}
    return lambda d: d == wanted


@dataclass(frozen=True)
class Target:
    role: str
    page: Callable[[Any], str]  # the page that shows the form
    action: Callable[[Any], str] | None = None  # where it posts (None: the page itself)
    saved: Callable[[Delta], bool] = field(default=lambda d: False)  # one successful save
    method: str = "post"


def _case(name: str, attr: str = "case") -> Callable[[Any], str]:
    return lambda w: reverse(name, args=[getattr(w, attr).pk])


def _referral(name: str, attr: str = "referral") -> Callable[[Any], str]:
    return lambda w: reverse(name, args=[getattr(w, attr).pk])


EVENT = {"cases.caseevent": 1}
TARGETS: dict[str, Target] = {
    "case register": Target(
        CO,
        lambda w: reverse("cases:register"),
        saved=lambda d: (
            d.get("cases.case") == 1
            and d.get("cases.caseevent") in {1, 2}
            and d.get("cases.family", 0) in {0, 1}
            and d.get("cases.guardian", 0) >= 0
            and set(d) <= {"cases.case", "cases.caseevent", "cases.family", "cases.guardian"}
        ),
    ),
    "case edit": Target(CO, _case("cases:edit"), saved=lambda d: d == EVENT),
    "case transition": Target(
        CO,
        _case("cases:detail", "ready_case"),
        _case("cases:transition", "ready_case"),
        saved=lambda d: d == EVENT,
    ),
    "family contact add": Target(
        CO,
        _case("cases:guardian_add"),
        saved=lambda d: d == {"cases.guardian": 1, "cases.caseevent": 1},
    ),
    "family contact edit": Target(
        CO,
        lambda w: reverse("cases:guardian_edit", args=[w.case.pk, w.guardian.pk]),
        saved=lambda d: d == EVENT,
    ),
    "case assign": Target(
        CO, _case("cases:detail"), _case("cases:assign"), saved=lambda d: d == EVENT
    ),
    "case bulk assign": Target(
        CO,
        lambda w: reverse("cases:list"),
        lambda w: reverse("cases:bulk_assign"),
        saved=lambda d: set(d) == {"cases.caseevent"} and d["cases.caseevent"] >= 1,
    ),
    "case share": Target(
        CO,
        _case("cases:detail"),
        _case("cases:share"),
        saved=lambda d: d == {"cases.caseevent": 1, "cases.caseuserobjectpermission": 1},
    ),
    "sibling link": Target(
        CO,
        _case("cases:detail"),
        _case("cases:link_sibling"),
        saved=lambda d: d == {"cases.caseevent": 2, "cases.family": -1},
    ),
    "referral create": Target(
        CO,
        _case("referrals:create", "ready_case"),
        saved=lambda d: d == {"referrals.referral": 1, "cases.caseevent": 2},
    ),
    "referral accept": Target(
        SO, _referral("referrals:detail"), _referral("referrals:accept"), saved=lambda d: d == EVENT
    ),
    "referral decline": Target(
        SO,
        _referral("referrals:detail"),
        _referral("referrals:decline"),
        saved=lambda d: d == {"cases.caseevent": 2},
    ),
    "referral enrol": Target(
        SO,
        _referral("referrals:detail", "accepted"),
        _referral("referrals:enrol", "accepted"),
        saved=lambda d: d == {"cases.caseevent": 2},
    ),
    "referral no-show": Target(
        SO,
        _referral("referrals:detail", "accepted"),
        _referral("referrals:no_show", "accepted"),
        saved=lambda d: d == {"cases.caseevent": 2},
    ),
    "referral withdraw": Target(
        CO, _referral("referrals:withdraw"), saved=lambda d: d == {"cases.caseevent": 2}
    ),
    "places update": Target(
        SO,
        lambda w: reverse("referrals:places"),
        saved=lambda d: set(d) <= {"referrals.places"} and d.get("referrals.places", 0) >= 0,
    ),
    "login": Target("anonymous", lambda w: reverse("login")),
    "retention offer": Target(
        AD,
        lambda w: reverse("cases:retention"),
        lambda w: reverse("cases:retention_offer"),
        saved=lambda d: set(d) == {"cases.caseevent"} and d["cases.caseevent"] >= 1,
    ),
    "retention decision": Target(
        AD,
        lambda w: reverse("cases:retention"),
        lambda w: reverse("cases:retention_decision"),
        saved=lambda d: d == EVENT,
    ),
    "figures filters": Target(MG, lambda w: reverse("figures"), method="get"),
    "audit log search": Target(AD, lambda w: reverse("audit_search"), method="get"),
    "second factor set-up": Target(CO, lambda w: reverse("otp_setup")),
}


def _counts() -> dict[str, int]:
    return {label: apps.get_model(label)._default_manager.count() for label in WATCHED}


def _client(world: Any, role: str) -> Client:
    client = Client()
    if role != "anonymous":
        client.cookies = world.sessions[role].__class__(world.sessions[role])
    return client


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    from tests.factories import build_role_world

    with django_db_blocker.unblock(), transaction.atomic():
        w = build_role_world()
        w.sessions = {}
        for role, user in w.users.items():
            client = Client()
            client.force_login(user)
            w.sessions[role] = client.cookies
        yield w
        transaction.set_rollback(True)


_FIELDS: dict[str, dict[str, Field]] = {}


def _discover(key: str, target: Target, world: Any) -> tuple[str, dict[str, Field]]:
    page = target.page(world)
    action = target.action(world) if target.action else page
    if key not in _FIELDS:
        response = _client(world, target.role).get(page)
        assert response.status_code == 200, f"{key}: {page} answered {response.status_code}"
        fields = form_fields(response.content.decode(), page, action, target.method)
        if target.method == "get" and not fields:
            # A page without a filter form: still send it arbitrary parameters.
            fields = {
                n: Field(n, "text")
                for n in ("year", "district", "target", "from", "to", "period", "group", "page")
            }
        assert fields, f"{key}: no form posting to {action} on {page}"
        _FIELDS[key] = fields
    return action, _FIELDS[key]


@pytest.mark.parametrize("key", sorted(TARGETS))
@settings(
    max_examples=25,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    deadline=None,
    database=None,  # nothing written into the working tree
)
@given(data=st.data())
def test_form_never_fails_and_never_writes_half(key: str, world, db, data) -> None:  # type: ignore[no-untyped-def]
    target = TARGETS[key]
    action, fields = _discover(key, target, world)
    payload = data.draw(payload_strategy(fields), label="payload")
    client = _client(world, target.role)
    with transaction.atomic():
        before = _counts()
        if target.method == "get":
            response = client.get(action, payload)
        else:
            response = client.post(action, payload)
        after = _counts()
        transaction.set_rollback(True)
    assert response.status_code < 500
    delta = {k: after[k] - before[k] for k in WATCHED if after[k] != before[k]}
    queued = getattr(getattr(response.wsgi_request, "_messages", None), "_queued_messages", [])
    download = "attachment" in response.get("Content-Disposition", "")
    refused = (response.status_code not in {301, 302} and not download) or any(
        m.level >= message_level.WARNING for m in queued
    )
    event(f"{'refused' if refused else 'saved' if delta else 'unchanged'}")
    if refused:
        assert delta == {}, f"{key}: refused ({response.status_code}) but wrote {delta}"
    else:
        assert delta == {} or target.saved(delta), f"{key}: saved an unexpected set of rows {delta}"
