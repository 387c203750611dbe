"""Property-based tests of every form: arbitrary text, dates and numbers never give a 500 and
never a partial write.

Each form is found on the page that shows it (the rendered HTML, so the test follows the
templates) and posted with values drawn by hypothesis: valid choices, junk, very long text,
control characters, odd dates and huge numbers. Every example runs in a rolled-back
transaction against the same world. After each POST the row counts of the watched tables
either did not change at all, or changed exactly as one successful save changes them; a form
shown again with errors (or a refusal) must have changed nothing.

Junk practically never gets through the forms whose values must agree with each other (the
case intake and edit, the family contact, the first day attended). For them a strategy
builds consistent submissions (non-ASCII names included), mixed with the junk: those must
be saved, each save is checked row by row against what was entered, and
``test_valid_values_were_saved`` fails if a run of one of them never saved at all.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest
from django import forms
from django.apps import apps
from django.contrib.messages import constants as message_level
from django.db import transaction
from django.test import Client
from django.urls import resolve, reverse
from django.utils import timezone
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from cases.forms import MAX_AGE, TARGET_AGES
from cases.models import Case, CaseEvent, Guardian, TargetType, groups_for_target
from cases.services import EDITABLE_FIELDS
from cases.views import _review_token
from referrals.models import Referral, ReferralState
from tests.second_factor import log_in

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


def payload_strategy(
    fields: dict[str, Field], valid: st.SearchStrategy[dict[str, Any]] | None = None
) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """Where the values come from, and the values (a field drawn as None is not sent).

    ``valid`` (consistent values, see below) is mixed in as itself and spoiled by junk. It
    comes first: hypothesis starts every run with the simplest example, which is then a
    consistent submission, so every run saves at least once (about a quarter of the
    examples are consistent, another quarter spoiled).
    """
    names = [n for n in sorted(fields) if n != "csrfmiddlewaretoken"]
    wild = st.fixed_dictionaries({}, optional={n: value_strategy(fields[n]) for n in names})
    careful = st.fixed_dictionaries({n: plausible_strategy(fields[n]) for n in names})
    origins = [wild.map(lambda d: ("wild", d)), careful.map(lambda d: ("careful", d))]
    if valid is not None:
        origins[:0] = [
            valid.map(lambda d: ("valid", d)),
            _spoiled(valid, fields).map(lambda d: ("spoiled", d)),
        ]
    return st.one_of(origins).map(
        lambda o: (o[0], {k: v for k, v in o[1].items() if v is not None})
    )


# --- mostly-valid values for the forms that junk almost never gets through ------------------
#
# A case, a family contact or a first day attended is saved only when several values agree:
# the target fits the age, dates lie between the birth and today, a contact can be reached,
# the first day lies between the referral and today. Drawn independently they practically
# never do, so these forms also get a strategy that builds a consistent submission (as a
# careful user would send it, non-ASCII names included), and one that spoils a few of its
# values. Submissions of the consistent strategy must be saved (else the product rejects
# valid input, or the strategy is wrong), and every save must write exactly its rows.

GIVEN_NAMES = (
    "Łukasz", "Мирослава", "Zoë", "José María", "Nguyễn Thị Mai", "Ayşe", "Jean-Luc",
    "Gülşen", "Олександр", "محمد", "Tigist", "Renée", "Ali Reza", "Björn", "Amina",
)  # fmt: skip
FAMILY_NAMES = (
    "Ölçer", "Kowalczyk", "Шевченко", "Al-Hassan", "O'Brien", "Nguyễn", "Haile",
    "Müller-Lüdenscheidt", "van der Berg", "Ибрагимова", "حداد", "Dąbrowski", "Øvergaard",
    "N\u2019Diaye", "Y\u0131lmaz",  # typographic apostrophe, Turkish dotless i
)  # fmt: skip
LANGUAGES = (
    "Arabisch", "Kurdisch", "Dari", "Paschtu", "Tigrinya", "Українська", "Русский", "Türkçe",
    "فارسی", "Français", "Deutsch",
)  # fmt: skip
NATIONALITIES = ("syrisch", "ukrainisch", "afghanisch", "türkisch", "eritreisch", "Україна")
ADDRESSES = ("Löhrstraße 12\r\n56068 Koblenz", "Am Moselufer 3, 56073 Koblenz", "вул. Шевченка 5")
GRADES = ("3", "7. Klasse", "8 клас", "Sekundarstufe I")
LETTERS = st.characters(categories=("Lu", "Ll", "Lo"))
# Free text as people type it: any script, marks, digits, punctuation, symbols, line breaks.
FREE_TEXT = st.text(
    st.characters(categories=("L", "M", "N", "P", "S", "Zs"), include_characters="\r\n\t"),
    max_size=200,
)
PHONES = st.one_of(
    st.sampled_from(["+49 261 1234567", "0261/12 34 56", "+380 (44) 123-45-67", "0151.2345678"]),
    # The shape the phone validator accepts, starting and ending with a digit (so that
    # stripping the blanks cannot make it too short).
    st.from_regex(r"\+?[0-9][0-9 ()/.-]{2,30}[0-9]", fullmatch=True),
)
EMAILS = st.one_of(
    st.sampled_from(["familie.oelcer@example.org", "m.shevchenko@example.com"]),
    st.emails(domains=st.sampled_from(["example.org", "beispiel.de"])),
)


def _name(pool: st.SearchStrategy[str], max_size: int) -> st.SearchStrategy[str]:
    """A realistic name, a made-up one in any script, or one of the longest allowed length;
    sometimes decomposed (as some keyboards send "ö": o and a combining mark) or with the
    blanks a paste adds around it (the form strips them)."""
    made_up = st.lists(st.text(LETTERS, min_size=1, max_size=12), min_size=1, max_size=3)
    name = st.one_of(
        pool, pool, made_up.map(" ".join), st.text(LETTERS, min_size=max_size, max_size=max_size)
    )
    decomposed = name.map(lambda n: unicodedata.normalize("NFD", n)).filter(
        lambda n: len(n) <= max_size
    )
    return st.one_of(name, name, decomposed, name.map(lambda n: f" {n}  "))


GIVEN = _name(st.sampled_from(GIVEN_NAMES), 100)
FAMILY = _name(st.sampled_from(FAMILY_NAMES), 100)
FULL_NAME = _name(
    st.builds("{} {}".format, st.sampled_from(GIVEN_NAMES), st.sampled_from(FAMILY_NAMES)), 120
)


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _age(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _fits(target: str, birth: dt.date, today: dt.date) -> bool:
    youngest, oldest = TARGET_AGES[target]
    return youngest <= _age(birth, today) <= min(oldest, MAX_AGE)


def _date_text(day: dt.date) -> st.SearchStrategy[str]:
    """As a date input sends it, or typed the German way."""
    return st.sampled_from([day.isoformat(), day.strftime("%d.%m.%Y")])


def _parse_date(text: str) -> dt.date | None:
    for pattern in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return dt.datetime.strptime(text.strip(), pattern).date()
        except ValueError:
            continue
    return None


def _options(fields: dict[str, Field], name: str) -> list[str]:
    """The non-empty choices the page offers for a select (KeyError: the page lost it)."""
    return [v for v in fields[name].values if v]


@st.composite
def _case_values(
    draw: st.DrawFn,
    fields: dict[str, Field],
    *,
    given: str,
    family: str,
    birth: dt.date | None = None,
    avoid: frozenset[dt.date] = frozenset(),
) -> dict[str, Any]:
    """Every field of the case form, consistent: a target the age allows, the dates between
    the birth and today, the years of schooling the age allows, and what the target needs."""
    today = timezone.localdate()
    targets = [
        t for t in _options(fields, "target_type") if birth is None or _fits(t, birth, today)
    ]
    target = draw(st.sampled_from(targets))
    if birth is None:
        youngest, oldest = TARGET_AGES[target]
        earliest = _years_before(today, min(oldest, MAX_AGE) + 1) + dt.timedelta(days=1)
        births = st.dates(earliest, _years_before(today, youngest))
        birth = draw(births.filter(lambda d: d not in avoid and _fits(target, d, today)))
    schooling = st.integers(0, min(max(_age(birth, today) - 3, 0), 16)).map(str)  # at most 16
    germany = draw(st.none() | st.dates(birth, today))
    city = draw(st.none() | st.dates(germany or birth, today))
    waiting = draw(st.none() | st.dates(birth, today))
    interpreter = draw(st.sampled_from(fields["interpreter_needed"].values))
    kita = target == TargetType.KITA
    groups = ["", *(g for g in _options(fields, "wanted_group") if g in groups_for_target(target))]
    return {
        "given_name": given,
        "family_name": family,
        "birth_date": draw(_date_text(birth)),
        "gender": draw(st.sampled_from(fields["gender"].values)),
        "nationality": draw(st.sampled_from(("", *NATIONALITIES))),
        "languages": ", ".join(
            draw(st.lists(st.sampled_from(LANGUAGES), min_size=1, max_size=3, unique=True))
        ),
        "interpreter_needed": interpreter,
        "interpreter_language": draw(
            st.sampled_from(LANGUAGES if interpreter == "true" else ("", *LANGUAGES))
        ),
        "address": draw(st.sampled_from(("", *ADDRESSES))),
        "arrival_germany": "" if germany is None else draw(_date_text(germany)),
        "arrival_city": "" if city is None else draw(_date_text(city)),
        "residence_status": draw(st.sampled_from(fields["residence_status"].values)),
        "target_type": target,
        "wanted_group": draw(st.sampled_from(groups)),
        "district": draw(st.sampled_from(fields["district"].values)),
        "waiting_since": "" if waiting is None else draw(_date_text(waiting)),
        "school_years": draw((st.just("") | schooling) if kita else schooling),
        "last_grade": draw(st.sampled_from(("", *GRADES))),
        "literate_own_script": draw(st.sampled_from(fields["literate_own_script"].values)),
        "german_level": draw(st.sampled_from(fields["german_level"].values)),
        "support_needed": draw(st.sampled_from(fields["support_needed"].values)),
        "support_notes": draw(FREE_TEXT),
        "measles_proof": draw(
            st.sampled_from(["true", "false"] if kita else fields["measles_proof"].values)
        ),
        "school_health_check": draw(st.sampled_from(fields["school_health_check"].values)),
        "health_notes": draw(FREE_TEXT),
        "notes": draw(FREE_TEXT),
    }


@st.composite
def _contact(draw: st.DrawFn, fields: dict[str, Field], prefix: str = "") -> dict[str, Any]:
    """A family contact that can be reached (phone, e-mail or both)."""
    reach = draw(st.sampled_from(("phone", "e-mail", "both")))
    contact = {
        f"{prefix}name": draw(FULL_NAME),
        f"{prefix}relation": draw(st.sampled_from(_options(fields, f"{prefix}relation"))),
        f"{prefix}phone": draw(PHONES) if reach != "e-mail" else "",
        f"{prefix}email": draw(EMAILS) if reach != "phone" else "",
        f"{prefix}preferred_language": draw(st.sampled_from(("", *LANGUAGES))),
    }
    if draw(st.booleans()):
        contact[f"{prefix}is_contact_person"] = "on"
    return contact


def _no_contact(prefix: str) -> dict[str, Any]:
    """An empty contact block, as the browser sends it."""
    return {
        f"{prefix}{n}": "" for n in ("name", "relation", "phone", "email", "preferred_language")
    }


@st.composite
def _intake_values(draw: st.DrawFn, world: Any, fields: dict[str, Field]) -> dict[str, Any]:
    """A new child: of a new family, the sibling of an open case of the team (sounding like
    its family name), or a confirmed look-alike of a registered child.

    The answer to the duplicate and sibling check is the one a user gives on the second
    save: the review token the warning showed, the confirmation for a look-alike. A new
    child never shares a birth date with a registered one, so it is never a look-alike.
    """
    today = timezone.localdate()
    twin = world.ready_case
    siblings = [str(c.pk) for c in (world.case, world.placed_case, world.ready_case)]
    scenario = draw(st.sampled_from(("new family", "new family", "sibling", "look-alike")))
    if scenario == "look-alike" and any(
        _fits(t, twin.birth_date, today) for t in _options(fields, "target_type")
    ):
        values = draw(
            _case_values(
                fields, given=twin.given_name, family=twin.family_name, birth=twin.birth_date
            )
        )
        values["confirm_duplicate"] = "on"
        values["sibling_of"] = draw(st.sampled_from(["", *siblings[:2]]))
    elif scenario == "sibling":
        family = draw(st.sampled_from([twin.family_name, "Hadad", f" {twin.family_name} "]))
        values = draw(_case_values(fields, given=draw(GIVEN), family=family, avoid=world.births))
        values["sibling_of"] = draw(st.sampled_from(siblings))
    else:
        values = draw(
            _case_values(fields, given=draw(GIVEN), family=draw(FAMILY), avoid=world.births)
        )
    birth = _parse_date(values["birth_date"])
    identity = {"given_name": values["given_name"].strip(), "birth_date": birth}
    values["review"] = _review_token({**identity, "family_name": values["family_name"].strip()})
    slots = int(fields["guardians-TOTAL_FORMS"].values[0])
    least = 0 if values.get("sibling_of") else 1  # joining a family may add no contact
    filled = draw(st.sets(st.integers(0, slots - 1), min_size=least, max_size=slots))
    for i in range(slots):
        prefix = f"guardians-{i}-"
        values.update(draw(_contact(fields, prefix)) if i in filled else _no_contact(prefix))
    for name, f in fields.items():
        if name.startswith("guardians-") and f.kind == "hidden":  # the management form
            values[name] = f.values[0]
    return values


@st.composite
def _edit_values(draw: st.DrawFn, world: Any, fields: dict[str, Field]) -> dict[str, Any]:
    """New, consistent data for the case, saved over the version the page showed."""
    values = draw(_case_values(fields, given=draw(GIVEN), family=draw(FAMILY)))
    return {**values, "version": fields["version"].values[0]}


def _contact_values(world: Any, fields: dict[str, Field]) -> st.SearchStrategy[dict[str, Any]]:
    return _contact(fields)


def _enrol_values(world: Any, fields: dict[str, Field]) -> st.SearchStrategy[dict[str, Any]]:
    """A first day between the referral (backdated by the fixture) and today."""
    days = st.dates(world.referred_on, timezone.localdate())
    return days.flatmap(_date_text).map(lambda day: {"enrol-first_day": day})


@st.composite
def _spoiled(
    draw: st.DrawFn, valid: st.SearchStrategy[dict[str, Any]], fields: dict[str, Field]
) -> dict[str, Any]:
    """Valid values with one to three of them replaced by junk or left out: the refusals
    right next to a save."""
    payload = dict(draw(valid))
    names = sorted((set(payload) | set(fields)) - {"csrfmiddlewaretoken"})
    for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)):
        junk = value_strategy(fields.get(name, Field(name, "text")))
        payload[name] = draw(st.none() | junk)
    return payload


# --- the forms -----------------------------------------------------------------------------


def _rows(**counts: int) -> Delta:
    """A delta as ``_counts`` reports it: ``cases__case=1`` is "cases.case", no zeros."""
    return {k.replace("__", "."): v for k, v in counts.items() if v}


def _exactly(**expected: int) -> Callable[[Delta], bool]:
    wanted = _rows(**expected)
    return lambda d: d == wanted


Values = dict[str, Any]


@dataclass(frozen=True)
class Target:
    role: str
    page: Callable[[Any], str]  # the page that shows the form
    action: Callable[[Any], str] | None = None  # where it posts (None: the page itself)
    saved: Callable[[Delta], bool] = field(default=lambda d: False)  # one successful save
    method: str = "post"
    # Consistent values (world, fields): they must be saved, and a run must save some.
    valid: Callable[[Any, dict[str, Field]], st.SearchStrategy[Values]] | None = None
    # The exact rows one successful save of these values writes (world, values, response);
    # runs before the rollback, so it also checks what was written. Replaces ``saved``.
    written: Callable[[Any, Values, Any], Delta] | None = None


def _case(name: str, attr: str = "case") -> Callable[[Any], str]:
    return lambda w: reverse(name, args=[getattr(w, attr).pk])


def _referral(name: str, attr: str = "referral") -> Callable[[Any], str]:
    return lambda w: reverse(name, args=[getattr(w, attr).pk])


def _posted(values: Values, name: str) -> str:
    """What the view reads for ``name`` (the last value of a list, "" if not sent)."""
    value = values.get(name, "")
    if isinstance(value, list):
        value = value[-1] if value else ""
    return str(value)


def _new_guardians(family_id: int, world: Any) -> list[Any]:
    """The contacts of the family added by the example, in the order they were written."""
    added = Guardian.objects.filter(family_id=family_id, pk__gt=world.last_guardian_pk)
    return list(added.order_by("pk"))


def _last_event(case_pk: int) -> Any:
    return CaseEvent.objects.filter(case_id=case_pk).order_by("-pk").first()


def _registered(world: Any, values: Values, response: Any) -> Delta:
    """One registration: the case; its family, unless it joins a sibling's; one row per
    filled-in contact (a changed contact block must have a name to be valid, an unchanged
    one has none); "registered" on the case and "sibling linked" on the sibling."""
    case = Case.objects.get(pk=resolve(urlsplit(response["Location"]).path).kwargs["pk"])
    assert (case.given_name, case.family_name) == (
        _posted(values, "given_name").strip(),
        _posted(values, "family_name").strip(),
    ), "the names were not stored as entered"
    assert (case.team_id, case.coordinator_id, case.state) == (
        world.team.pk, world.users[CO].pk, "intake"
    )  # fmt: skip
    assert [e.kind for e in case.events.all()] == [CaseEvent.Kind.CREATED]
    slots = forms.IntegerField().to_python(_posted(values, "guardians-TOTAL_FORMS")) or 0
    names = [_posted(values, f"guardians-{i}-name").strip() for i in range(slots)]
    names = [n for n in names if n]
    contacts = _new_guardians(case.family_id, world)
    assert [g.name for g in contacts] == names, "the contacts were not stored as entered"
    sibling = _posted(values, "sibling_of")
    if sibling:
        assert case.family_id == Case.objects.get(pk=int(sibling)).family_id
        assert _last_event(int(sibling)).kind == CaseEvent.Kind.SIBLING
    else:
        assert list(Case.objects.filter(family_id=case.family_id)) == [case]
        assert not contacts or any(g.is_contact_person for g in contacts), "no main contact"
    return _rows(
        cases__case=1,
        cases__family=0 if sibling else 1,
        cases__guardian=len(names),
        cases__caseevent=2 if sibling else 1,
    )


def _edited(world: Any, values: Values, response: Any) -> Delta:
    """One edit: the case changes in place; one "data changed" event naming exactly the
    fields that changed, or nothing at all when nothing changed."""
    case = Case.objects.get(pk=world.case.pk)
    assert (case.given_name, case.family_name) == (
        _posted(values, "given_name").strip(),
        _posted(values, "family_name").strip(),
    ), "the names were not stored as entered"
    changed = [n for n in EDITABLE_FIELDS if _stored(case, n) != world.case_before[n]]
    if not changed:
        return {}
    last = _last_event(case.pk)
    assert last.kind == CaseEvent.Kind.EDITED and sorted(last.fields) == sorted(changed)
    return EVENT


def _contact_saved(world: Any, values: Values, response: Any) -> Delta:
    """A new contact of the case's family, as entered; one event on the case."""
    contacts = _new_guardians(world.case.family_id, world)
    assert [(g.name, g.relation, g.phone, g.email) for g in contacts] == [
        tuple(_posted(values, n).strip() for n in ("name", "relation", "phone", "email"))
    ], "the contact was not stored as entered"
    last = _last_event(world.case.pk)
    assert last.kind == CaseEvent.Kind.EDITED and last.fields == ["guardians"]
    return _rows(cases__guardian=1, cases__caseevent=1)


def _contact_changed(world: Any, values: Values, response: Any) -> Delta:
    """The contact changes in place; one event on the case."""
    contact = Guardian.objects.get(pk=world.guardian.pk)
    assert (contact.name, contact.relation, contact.phone, contact.email) == tuple(
        _posted(values, n).strip() for n in ("name", "relation", "phone", "email")
    ), "the contact was not stored as entered"
    last = _last_event(world.case.pk)
    assert last.kind == CaseEvent.Kind.EDITED and last.fields == ["guardians"]
    return EVENT


def _enrolled(world: Any, values: Values, response: Any) -> Delta:
    """The referral is enrolled and the case placed, both on the first day entered; the
    history gets the case's transition and the referral's answer."""
    referral = Referral.objects.select_related("case").get(pk=world.accepted.pk)
    day = referral.enrolled_on
    assert referral.state == ReferralState.ENROLLED and referral.case.state == "placed"
    assert referral.case.placed_on == day and not referral.place_reserved
    assert world.referred_on <= day <= timezone.localdate()
    entered = _parse_date(_posted(values, "enrol-first_day"))
    assert entered in (None, day), f"entered {entered}, stored {day}"
    kinds = CaseEvent.objects.filter(case_id=referral.case_id).order_by("-pk")[:2]
    assert [e.kind for e in kinds] == [CaseEvent.Kind.REFERRAL, CaseEvent.Kind.TRANSITION]
    return _rows(cases__caseevent=2)


EVENT = {"cases.caseevent": 1}
TARGETS: dict[str, Target] = {
    "case register": Target(
        CO, lambda w: reverse("cases:register"), valid=_intake_values, written=_registered
    ),
    "case edit": Target(CO, _case("cases:edit"), valid=_edit_values, written=_edited),
    "case transition": Target(
        CO,
        _case("cases:detail", "ready_case"),
        _case("cases:transition", "ready_case"),
        saved=lambda d: d == EVENT,
    ),
    "family contact add": Target(
        CO, _case("cases:guardian_add"), valid=_contact_values, written=_contact_saved
    ),
    "family contact edit": Target(
        CO,
        lambda w: reverse("cases:guardian_edit", args=[w.case.pk, w.guardian.pk]),
        valid=_contact_values,
        written=_contact_changed,
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
        valid=_enrol_values,
        written=_enrolled,
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


def _stored(case: Case, name: str) -> Any:
    return case.district_id if name == "district" else getattr(case, name)


def _refused(response: Any) -> bool:
    """Shown again (errors), or redirected with a warning or an error: nothing may change."""
    queued = getattr(getattr(response.wsgi_request, "_messages", None), "_queued_messages", [])
    download = "attachment" in response.get("Content-Disposition", "")
    return (response.status_code not in {301, 302} and not download) or any(
        m.level >= message_level.WARNING for m in queued
    )


def _why(response: Any) -> str:
    """The errors a refused submission was answered with (for the failure message)."""
    reasons: list[Any] = [response.status_code, response.get("Location", "")]
    queued = getattr(getattr(response.wsgi_request, "_messages", None), "_queued_messages", [])
    reasons += [str(m) for m in queued]
    context = response.context or {}
    seen: set[int] = set()
    for name in ("form", "formset", "forms"):
        try:
            shown = context[name]
        except KeyError:
            continue
        for form in shown.values() if isinstance(shown, dict) else [shown]:
            if id(form) in seen:
                continue
            seen.add(id(form))
            if hasattr(form, "non_form_errors"):  # a formset
                reasons += [e.get_json_data() for e in form.errors if e]
                reasons += list(form.non_form_errors())
            elif form.errors:
                reasons.append(form.errors.get_json_data())
    return repr(reasons)


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
        # The accepted referral was made six weeks ago, so that a first day attended has a
        # range (the referral day to today) and a lower bound that can be crossed.
        referred = w.accepted.created_at - dt.timedelta(days=42)
        Referral.objects.filter(pk=w.accepted.pk).update(created_at=referred)
        w.referred_on = timezone.localdate(referred)
        # What the checks of a save compare with (every example is rolled back to this).
        w.births = frozenset(c.birth_date for c in Case.objects.all())
        fresh = Case.objects.get(pk=w.case.pk)
        w.case_before = {name: _stored(fresh, name) for name in EDITABLE_FIELDS}
        w.last_guardian_pk = Guardian.objects.order_by("-pk").values_list("pk", flat=True)[0]
        w.sessions = {}
        for role, user in w.users.items():
            client = Client()
            log_in(client, user)
            w.sessions[role] = client.cookies
        yield w
        transaction.set_rollback(True)


_FIELDS: dict[str, dict[str, Field]] = {}
# How the examples of each form ended, in this session (see test_valid_values_were_saved).
_OUTCOMES: defaultdict[str, Counter[str]] = defaultdict(Counter)


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
    valid = target.valid(world, fields) if target.valid else None
    origin, payload = data.draw(payload_strategy(fields, valid), label="payload")
    client = _client(world, target.role)
    expected: Delta | None = None
    with transaction.atomic():
        before = _counts()
        if target.method == "get":
            response = client.get(action, payload)
        else:
            response = client.post(action, payload)
        after = _counts()
        refused = _refused(response)
        if not refused and target.written is not None:
            expected = target.written(world, payload, response)
        transaction.set_rollback(True)
    assert response.status_code < 500
    delta = {k: after[k] - before[k] for k in WATCHED if after[k] != before[k]}
    outcome = "refused" if refused else "saved" if delta else "unchanged"
    event(outcome)
    event(f"{origin} values: {outcome}")
    _OUTCOMES[key][outcome] += 1
    if refused:
        assert delta == {}, f"{key}: refused ({response.status_code}) but wrote {delta}"
    elif expected is not None:
        assert delta == expected, f"{key}: wrote {delta}, one save writes {expected}"
        event(f"wrote {dict(sorted(delta.items()))}")
    else:
        assert delta == {} or target.saved(delta), f"{key}: saved an unexpected set of rows {delta}"
    if origin == "valid":
        assert not refused, f"{key}: consistent values were refused: {_why(response)}"


# Forms with consistent values: one of their choice fields is then given a value the page
# does not offer. It must be a form error, never a default ("not known", "unknown", the first
# choice) stored in its place (issue 14, point 12).
CHOICE_TARGETS = ("case register", "case edit", "family contact add", "family contact edit")
NOT_OFFERED = st.one_of(
    JUNK,
    st.sampled_from(["maybe", "vielleicht", "yes", "no", "TRUE", "None", "1", "0", "2", "3",
                     "unknown ", " true", "on", "x", "g99", "kita ", "-5", "1.0"]),
)  # fmt: skip


@pytest.mark.parametrize("key", CHOICE_TARGETS)
@settings(
    max_examples=25,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate),  # a failure names its field and value already
)
@given(data=st.data())
def test_a_choice_the_page_does_not_offer_is_refused(key: str, world, db, data) -> None:  # type: ignore[no-untyped-def]
    target = TARGETS[key]
    action, fields = _discover(key, target, world)
    assert target.valid is not None
    choices = sorted(
        n for n, f in fields.items() if f.kind in {"select", "radio"} and not f.multiple
    )
    assert choices, f"{key}: no choice field found"
    payload = dict(data.draw(target.valid(world, fields), label="valid values"))
    name = data.draw(st.sampled_from(choices), label="field")
    offered = {v.strip() for v in fields[name].values}
    # An empty value is "no answer", which every optional choice accepts (and a required
    # one refuses anyway): only values that are not empty count here.
    payload[name] = data.draw(
        NOT_OFFERED.filter(lambda v: v.strip() and v.strip() not in offered), label="value"
    )
    client = _client(world, target.role)
    with transaction.atomic():
        before = _counts()
        response = client.post(action, payload)
        after = _counts()
        transaction.set_rollback(True)
    assert response.status_code < 500
    delta = {k: after[k] - before[k] for k in WATCHED if after[k] != before[k]}
    assert _refused(response), f"{key}: {name}={payload[name]!r} was accepted"
    assert delta == {}, f"{key}: {name}={payload[name]!r} wrote {delta}"


# The forms whose saves the property test must reach (junk alone practically never does).
MUST_SAVE = (
    "case register", "case edit", "family contact add", "family contact edit", "referral enrol",
)  # fmt: skip


@pytest.mark.parametrize("key", MUST_SAVE)
def test_valid_values_were_saved(key: str, world, db) -> None:  # type: ignore[no-untyped-def]
    """The exact-rows check above proves something only for examples that save: a run of
    the property test in which no example of one of these forms saved proves only "no 500"
    for it, so it fails here (e.g. the form lost its consistent values, or they stopped
    saving without the refusal being noticed). Normally the property test has run just
    before (file order); if it did not run for this form in this session (``-k``, another
    order), it is run here."""
    assert TARGETS[key].valid is not None, f"{key}: no consistent values to save"
    if not _OUTCOMES[key]:
        test_form_never_fails_and_never_writes_half(key=key, world=world, db=db)
    outcomes = _OUTCOMES[key]
    assert outcomes["saved"] >= 1, f"{key}: no example was saved ({dict(outcomes)})"
