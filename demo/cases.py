"""Demo cases for ``seed_demo``: 44 children of 26 families in every state, both teams.

Names are fictional but typical of the main countries of origin (Ukraine, Syria, Afghanistan,
Türkiye, Iraq, Romania). Every case is built through the real services (``case_register``,
``case_transition``, ``referral_create/accept/decline/enrol``), so each has the history and
audit rows a real one would have. Only the dates are moved into the past afterwards (with
``.update()``, on purpose: the demo simulates weeks of work in one run).

Idempotent: the first demo child is the marker; when it exists nothing is created. Dates are
relative to today, so the waiting figures look the same whenever the demo is loaded.

Try the duplicate warning: register "Muhammad Al Hasan", born on Mohammed Al-Hassan's birth
date (see his case), as ``coordinator2``: the warning names Team Nord, without a link.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from cases.models import Case, CaseEvent, State

MARKER = ("Sofiia", "Kovalenko")  # the first demo child: present means "already seeded"

# Institutions used for placements, by target group; pending referrals go to the two demo
# institutions with a login (school, kita) so their inboxes have work in them.
PLACING = {
    "g01": "Grundschule Karthause-Nord", "g03": "Grundschule Karthause-Nord",
    "g04": "Grundschule Metternich", "g06": "Integrierte Gesamtschule Deutschherren",
    "g07": "Realschule plus Schängel", "kita_3": "Kita Kunterbunt",
    "bvj": "Berufsbildende Schule Am Deutschen Eck",
}  # fmt: skip


@dataclass
class Child:
    given: str
    age: int
    birthday: tuple[int, int]  # month, day
    gender: str
    target: str
    group: str
    state: str
    waiting_days: int
    state_days: int = 0  # days already in the current state (for the "stuck" figures)
    referral: str = ""  # "pending", "accepted", "waitlist", "declined", institution override
    institution: str = ""
    close_reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Family:
    name: str
    coordinator: str  # demo user name
    district: str
    nationality: str
    languages: list[str]
    residence: str
    guardians: list[tuple[str, str, str, str, str]]  # name, relation, phone, e-mail, language
    children: list[Child]
    interpreter: str = ""


S, K, V = "school", "kita", "vocational"

FAMILIES: list[Family] = [
    Family("Kovalenko", "coordinator", "Lützel", "Ukraine", ["Ukrainisch", "Russisch"],
           "temporary_protection",
           [("Olena Kovalenko", "mother", "+49 1520 0001001", "olena.k@example.org", "Ukrainisch")],
           [Child("Sofiia", 8, (5, 12), "f", S, "g03", State.PLACED, 75),
            Child("Maksym", 5, (9, 3), "m", K, "kita_3", State.REFERRED, 60, referral="pending"),
            Child("Daryna", 2, (1, 21), "f", K, "kita_u3", State.INTAKE, 6)]),
    Family("Al-Hassan", "coordinator", "Altstadt", "Syrien", ["Arabisch"], "asylum_seeker",
           [("Khaled Al-Hassan", "father", "+49 1520 0001002", "", "Arabisch")],
           [Child("Mohammed", 11, (2, 8), "m", S, "g05", State.READY, 124, state_days=40,
                  extra={"school_years": 4, "last_grade": "4 (Syrien)"}),
            Child("Lina", 7, (11, 30), "f", S, "g02", State.REFERRED, 118, referral="pending")],
           interpreter="Arabisch"),
    Family("Ahmadi", "coordinator2", "Karthause", "Afghanistan", ["Dari"], "asylum_seeker",
           [("Zahra Ahmadi", "mother", "+49 1520 0001003", "", "Dari")],
           [Child("Farid", 15, (3, 21), "m", S, "g09", State.CLARIFICATION, 38, state_days=30,
                  extra={"school_years": 6, "literate_own_script": True}),
            Child("Mariam", 12, (6, 14), "f", S, "g06", State.PLACED, 64)],
           interpreter="Dari"),
    Family("Yılmaz", "coordinator2", "Metternich", "Türkei", ["Türkisch", "Kurdisch"],  # noqa: RUF001
           "asylum_seeker",
           [("Mehmet Yılmaz", "father", "+49 1520 0001004", "m.yilmaz@example.org",  # noqa: RUF001
             "Türkisch")],
           [Child("Elif", 6, (4, 2), "f", S, "g01", State.REFERRED, 33, referral="accepted"),
            Child("Emir", 3, (8, 19), "m", K, "kita_3", State.READY, 47, state_days=12)]),
    Family("Popescu", "coordinator", "Neuendorf", "Rumänien", ["Rumänisch"], "eu_citizen",
           [("Ioana Popescu", "mother", "+49 1520 0001005", "ioana.p@example.org", "Rumänisch")],
           [Child("Andrei", 10, (10, 10), "m", S, "g04", State.PLACED, 52),
            Child("Maria", 4, (12, 24), "f", K, "kita_3", State.PLACED, 58,
                  extra={"measles_proof": True})]),
    Family("Hussein", "coordinator", "Lützel", "Irak", ["Arabisch", "Kurdisch (Sorani)"],
           "recognised",
           [("Ali Hussein", "father", "+49 1520 0001006", "", "Arabisch"),
            ("Samira Hussein", "mother", "+49 1520 0001016", "", "Arabisch")],
           [Child("Zainab", 9, (7, 7), "f", S, "g03", State.REFERRED, 96, referral="waitlist"),
            Child("Hassan", 16, (1, 15), "m", V, "bvj", State.PLACED, 88,
                  extra={"school_years": 8})]),
    Family("Shevchenko", "coordinator2", "Süd", "Ukraine", ["Ukrainisch"],
           "temporary_protection",
           [("Halyna Shevchenko", "relative", "+49 1520 0001007", "", "Ukrainisch")],
           [Child("Artem", 13, (9, 28), "m", S, "g07", State.PLACED, 70),
            Child("Polina", 17, (2, 2), "f", V, "bvj", State.READY, 103, state_days=26,
                  extra={"school_years": 10})]),
    Family("Haddad", "coordinator2", "Goldgrube", "Syrien", ["Arabisch"], "recognised",
           [("Rasha Haddad", "mother", "+49 1520 0001008", "rasha.h@example.org", "Arabisch")],
           [Child("Yousef", 7, (5, 5), "m", S, "g02", State.ON_HOLD, 80, state_days=25,
                  extra={"school_years": 1}),
            Child("Rania", 1, (3, 30), "f", K, "kita_u3", State.INTAKE, 9)]),
    Family("Hosseini", "coordinator", "Rauental", "Afghanistan", ["Dari", "Paschtu"],
           "asylum_seeker",
           [("Reza Hosseini", "father", "+49 1520 0001009", "", "Dari")],
           [Child("Ali", 14, (8, 1), "m", S, "g08", State.CLARIFICATION, 20, state_days=14,
                  extra={"school_years": 5, "literate_own_script": True}),
            Child("Fatemeh", 10, (11, 11), "f", S, "g04", State.READY, 71, state_days=24,
                  extra={"school_years": 3})],
           interpreter="Dari"),
    Family("Kaya", "coordinator", "Güls", "Türkei", ["Türkisch"], "asylum_seeker",
           [("Ayten Kaya", "mother", "+49 1520 0001010", "", "Türkisch")],
           [Child("Deniz", 8, (6, 6), "m", S, "g03", State.CLOSED, 40, state_days=10,
                  close_reason="moved_away")]),
    Family("Bondarenko", "coordinator2", "Horchheim", "Ukraine", ["Ukrainisch", "Russisch"],
           "temporary_protection",
           [("Iryna Bondarenko", "mother", "+49 1520 0001011", "iryna.b@example.org", "Russisch")],
           [Child("Ivan", 18, (4, 17), "m", V, "bbs", State.CLARIFICATION, 15,
                  extra={"school_years": 11, "last_grade": "11"}),
            Child("Anna", 6, (2, 26), "f", S, "g01", State.PLACED, 45)]),
    Family("Kareem", "coordinator2", "Kesselheim", "Irak", ["Arabisch"], "tolerated",
           [("Huda Kareem", "mother", "+49 1520 0001012", "", "Arabisch")],
           [Child("Noor", 5, (10, 2), "f", K, "kita_3", State.REFERRED, 55, referral="pending",
                  extra={"measles_proof": False}),
            Child("Omar", 11, (1, 9), "m", S, "g05", State.READY, 91, referral="declined",
                  institution="Realschule plus Schängel", extra={"school_years": 3})]),
    Family("Ionescu", "coordinator2", "Wallersheim", "Rumänien", ["Rumänisch", "Romanes"],
           "eu_citizen",
           [("Gheorghe Ionescu", "father", "+49 1520 0001013", "", "Rumänisch")],
           [Child("Alexandru", 12, (7, 31), "m", S, "g06", State.INTAKE, 4),
            Child("Elena", 9, (9, 9), "f", S, "g03", State.CLARIFICATION, 27, state_days=22,
                  extra={"school_years": 2, "literate_own_script": False})]),
    Family("Rahimi", "coordinator", "Ehrenbreitstein", "Afghanistan", ["Paschtu"],
           "asylum_seeker",
           [("Gul Rahimi", "guardian", "+49 1520 0001014", "", "Paschtu")],
           [Child("Sultan", 17, (12, 1), "m", V, "bvj", State.ON_HOLD, 60, state_days=8,
                  extra={"school_years": 4}),
            Child("Parwana", 8, (5, 25), "f", S, "g03", State.CLARIFICATION, 12,
                  extra={"school_years": 0, "literate_own_script": False})],
           interpreter="Paschtu"),
    Family("Melnyk", "coordinator", "Metternich", "Ukraine", ["Ukrainisch"],
           "temporary_protection",
           [("Tetiana Melnyk", "mother", "+49 1520 0001015", "t.melnyk@example.org", "Ukrainisch")],
           [Child("Kateryna", 4, (3, 3), "f", K, "kita_3", State.READY, 35, state_days=5,
                  extra={"measles_proof": True}),
            Child("Bohdan", 2, (8, 8), "m", K, "kita_u3", State.READY, 35, state_days=5,
                  extra={"measles_proof": True})]),
    Family("Darwish", "coordinator2", "Rübenach", "Syrien", ["Arabisch"], "recognised",
           [("Nabil Darwish", "father", "+49 1520 0001017", "", "Arabisch")],
           [Child("Amira", 13, (4, 4), "f", S, "g07", State.REFERRED, 50, referral="pending",
                  institution="Integrierte Gesamtschule Deutschherren",
                  extra={"school_years": 6})]),
    Family("Çelik", "coordinator", "Arenberg", "Türkei", ["Türkisch"], "asylum_seeker",
           [("Hatice Çelik", "mother", "+49 1520 0001018", "", "Türkisch")],
           [Child("Ayşe", 10, (1, 30), "f", S, "g04", State.CLOSED, 150, close_reason="done",
                  institution="Grundschule Karthause-Nord")]),
    Family("Noori", "coordinator2", "Niederberg", "Afghanistan", ["Dari"], "asylum_seeker",
           [("Hamid Noori", "guardian", "+49 1520 0001019", "", "Dari")],
           [Child("Jawad", 19, (6, 20), "m", V, "bbs", State.INTAKE, 3,
                  extra={"school_years": 9})]),
    Family("Munteanu", "coordinator", "Pfaffendorf", "Rumänien", ["Rumänisch"], "eu_citizen",
           [("Ştefan Munteanu", "father", "+49 1520 0001020", "s.munteanu@example.org",
             "Rumänisch")],
           [Child("Cristian", 15, (11, 5), "m", S, "g09", State.INTAKE, 5)]),
    Family("Al-Jaburi", "coordinator2", "Oberwerth", "Irak", ["Arabisch"], "asylum_seeker",
           [("Maha Al-Jaburi", "mother", "+49 1520 0001021", "", "Arabisch")],
           [Child("Sara", 3, (2, 14), "f", K, "kita_3", State.CLARIFICATION, 24, state_days=23,
                  extra={"measles_proof": False})]),
    Family("Tkachenko", "coordinator", "Moselweiß", "Ukraine", ["Ukrainisch"],
           "temporary_protection",
           [("Oksana Tkachenko", "mother", "+49 1520 0001022", "", "Ukrainisch")],
           [Child("Mykyta", 11, (10, 30), "m", S, "g05", State.CLOSED, 30, state_days=3,
                  close_reason="withdrawn")]),
    # The same boy as Mohammed Al-Hassan, registered again by Team Süd with another spelling
    # and closed as a duplicate: the phonetic blind index finds such pairs at intake.
    Family("Alhasan", "coordinator2", "Altstadt", "Syrien", ["Arabisch"], "asylum_seeker",
           [("Khalid Alhasan", "father", "+49 1520 0001002", "", "Arabisch")],
           [Child("Muhammad", 11, (2, 8), "m", S, "g05", State.CLOSED, 110, state_days=100,
                  close_reason="duplicate")]),
    Family("Mahmoud", "coordinator", "Kesselheim", "Syrien", ["Arabisch"], "recognised",
           [("Amal Mahmoud", "mother", "+49 1520 0001023", "amal.m@example.org", "Arabisch")],
           [Child("Adam", 6, (9, 16), "m", S, "g01", State.READY, 44, state_days=4),
            Child("Yara", 9, (3, 9), "f", S, "g03", State.READY, 44, state_days=4,
                  extra={"school_years": 2}),
            Child("Jana", 4, (12, 12), "f", K, "kita_3", State.CLARIFICATION, 44,
                  state_days=4)]),
    Family("Petrenko", "coordinator2", "Altstadt", "Ukraine", ["Ukrainisch", "Russisch"],
           "temporary_protection",
           [("Serhii Petrenko", "father", "+49 1520 0001024", "s.petrenko@example.org",
             "Ukrainisch")],
           [Child("Viktoriia", 14, (5, 19), "f", S, "g08", State.REFERRED, 40,
                  referral="pending", institution="Realschule plus Schängel",
                  extra={"school_years": 8}),
            Child("Oleh", 16, (8, 23), "m", V, "bvj", State.REFERRED, 40, referral="accepted",
                  institution="Berufsbildende Schule Am Deutschen Eck",
                  extra={"school_years": 9})]),
    Family("Abdullah", "coordinator", "Lützel", "Irak", ["Kurdisch (Kurmandschi)"],
           "asylum_seeker",
           [("Berfin Abdullah", "mother", "+49 1520 0001025", "", "Kurdisch (Kurmandschi)")],
           [Child("Rojin", 7, (6, 1), "f", S, "g02", State.INTAKE, 2)],
           interpreter="Kurdisch (Kurmandschi)"),
    Family("Sadiqi", "coordinator2", "Süd", "Afghanistan", ["Dari"], "asylum_seeker",
           [("Mina Sadiqi", "mother", "+49 1520 0001026", "", "Dari")],
           [Child("Nilofar", 5, (9, 30), "f", S, "g01", State.CLARIFICATION, 18, state_days=9,
                  extra={"school_years": 0, "school_health_check": False})]),
]  # fmt: skip

PENDING_INSTITUTION = {S: "Grundschule am Moselufer", K: "Kita Sonnenblume"}
STAFF_FOR = {S: "school", K: "kita", V: "school"}


def _birth_date(today: dt.date, child: Child) -> dt.date:
    month, day = child.birthday
    birth = dt.date(today.year - child.age, month, day)
    if birth > today.replace(year=today.year - child.age):
        # Birthday still to come this year: born a year earlier to be ``age`` today.
        birth = birth.replace(year=birth.year - 1)
    return birth


def _data(family: Family, child: Child, districts: dict[str, Any], today: dt.date) -> dict:
    arrival_city = today - dt.timedelta(days=child.waiting_days)
    data: dict[str, Any] = {
        "given_name": child.given,
        "family_name": family.name,
        "birth_date": _birth_date(today, child),
        "gender": child.gender,
        "nationality": family.nationality,
        "languages": family.languages,
        "interpreter_needed": bool(family.interpreter),
        "interpreter_language": family.interpreter,
        "address": f"Demostraße {len(family.name) * 3}, 56070 Koblenz",
        "arrival_germany": arrival_city - dt.timedelta(days=14 + child.age),
        "arrival_city": arrival_city,
        "residence_status": family.residence,
        "target_type": child.target,
        "wanted_group": child.group,
        "district": districts[family.district],
        "german_level": "none" if child.waiting_days < 60 else "A1",
    }
    if child.target in (S, V):
        data.setdefault("school_years", max(min(child.age - 6, 8), 0))
    if child.target == K:
        data["measles_proof"] = True
    data.update(child.extra)
    return data


def _with_staff(user: Any, institution: Any, action: Any) -> Any:
    """Run ``action`` as the demo staff user with a temporary right on another institution."""
    had = user.has_perm("referrals.staff_institution", institution)
    if not had:
        assign_perm("referrals.staff_institution", user, institution)
    try:
        return action()
    finally:
        if not had:
            remove_perm("referrals.staff_institution", user, institution)


def _build(
    family: Family,
    child: Child,
    *,
    first: Case | None,
    users: dict[str, Any],
    districts: dict[str, Any],
    institutions: dict[str, Any],
    today: dt.date,
) -> Case:
    from cases.services import case_register, case_transition
    from referrals.services import (
        referral_accept,
        referral_create,
        referral_decline,
        referral_enrol,
    )

    coordinator = users[family.coordinator]
    guardians = [
        {"name": n, "relation": r, "phone": p, "email": e, "preferred_language": lang,
         "is_contact_person": i == 0}
        for i, (n, r, p, e, lang) in enumerate(family.guardians)
    ] if first is None else []  # fmt: skip
    case = case_register(by=coordinator, data=_data(family, child, districts, today),
                         guardians=guardians, sibling_of=first)  # fmt: skip
    state = child.state

    def step(name: str, **kwargs: Any) -> None:
        case_transition(case=case, by=coordinator, transition=name, **kwargs)

    if state == State.INTAKE:
        return case
    step("start_clarification")
    if state == State.ON_HOLD:
        step("hold", comment="Familie ist vorübergehend bei Verwandten in einer anderen Stadt.")
    if state == State.CLOSED and child.close_reason != "done":
        step("close", reason=child.close_reason, comment="Demo")
    if state in (State.CLARIFICATION, State.ON_HOLD) or (
        state == State.CLOSED and child.close_reason != "done"
    ):
        return case
    step("mark_ready")
    staff = users[STAFF_FOR[child.target]]
    if child.referral == "declined":
        institution = institutions[child.institution]
        referral = referral_create(case=case, institution=institution, by=coordinator)
        _with_staff(staff, institution, lambda: referral_decline(
            referral=referral, by=staff, reason="no_place",
            comment="Die Klasse ist voll; bitte bei der IGS anfragen.",
        ))  # fmt: skip
    if state == State.READY:
        return case
    if state == State.REFERRED:
        institution = institutions[child.institution or PENDING_INSTITUTION[child.target]]
        waitlist = child.referral == "waitlist"
        referral = referral_create(
            case=case, institution=institution, by=coordinator, confirm_waitlist=waitlist,
            message="Bitte um Aufnahme auf die Warteliste." if waitlist else "",
        )  # fmt: skip
        if child.referral == "accepted":
            _with_staff(staff, institution, lambda: referral_accept(
                referral=referral, by=staff, start_date=today + dt.timedelta(days=7)))  # fmt: skip
        return case
    # placed, or closed after a completed placement
    institution = institutions[child.institution or PLACING[child.group]]
    referral = referral_create(case=case, institution=institution, by=coordinator)

    def accept_and_enrol() -> None:
        accepted = referral_accept(referral=referral, by=staff, start_date=today)
        referral_enrol(referral=accepted, by=staff, first_day=today)

    _with_staff(staff, institution, accept_and_enrol)
    if state == State.CLOSED:
        case.refresh_from_db()
        case_transition(case=case, by=coordinator, transition="close", reason="done",
                        comment="Gut angekommen, Nachbetreuung abgeschlossen.")  # fmt: skip
    return case


def _backdate(case: Case, child: Child, now: dt.datetime) -> None:
    """Spread the case's history over the weeks since arrival (demo data only)."""
    registered = now - dt.timedelta(days=child.waiting_days)
    since = now - dt.timedelta(days=child.state_days) if child.state_days else now
    if child.state in (State.REFERRED, State.PLACED):
        since = now  # referral dates belong to the referrals app: keep them consistent
    since = max(since, registered)
    Case.objects.filter(pk=case.pk).update(created_at=registered, state_changed_at=since)
    events = list(CaseEvent.objects.filter(case=case).order_by("id").values_list("id", flat=True))
    steps = max(len(events) - 1, 1)
    for index, event_id in enumerate(events):
        at = registered + (since - registered) * index / steps
        CaseEvent.objects.filter(pk=event_id).update(at=at)


def _seeded() -> bool:
    from cases.identity import search_keys

    given, family = MARKER
    return Case.objects.filter(
        bidx_name=search_keys(name=f"{given} {family}")["bidx_name"]
    ).exists()


@transaction.atomic
def seed_cases(
    *, users: dict[str, Any], districts: dict[str, Any], institutions: dict[str, Any]
) -> int:
    """Create the demo cases once; returns how many were created (0 when already seeded)."""
    if _seeded():
        return 0
    today = timezone.localdate()
    now = timezone.now()
    created = 0
    for family in FAMILIES:
        first: Case | None = None
        built = []
        for child in family.children:
            case = _build(family, child, first=first, users=users, districts=districts,
                          institutions=institutions, today=today)  # fmt: skip
            built.append((case, child))
            first = first or case
            created += 1
        # After the whole family: a sibling's registration also writes to the first child.
        for case, child in built:
            _backdate(case, child, now)
    return created
