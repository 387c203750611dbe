"""Demo offers for ``seed_demo``: 8 providers, 22 offers of every kind across the demo
districts, and registrations of demo children in every state.

The offers are made with ``offer_save`` and the registrations through the real services
(``registration_create/confirm/decline/start/end/drop_out/withdraw``), so each has its
history line and audit row. Two providers have a login: the demo user ``school`` keeps the
offers of its own school, the new demo user ``verein`` (password ``demo``) those of the
Jugendmigrationsdienst; the others are answered by the coordinator.

Idempotent: offers are found by title; registrations are made only when there are none.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import Group
from django.utils import timezone
from guardian.shortcuts import assign_perm

from cases.models import Case, State
from coordination.models import User
from coordination.roles import INSTITUTION_STAFF
from offers.models import Offer, OfferKind, OfferRegistration, Provider, ProviderKind

# name, kind, district, e-mail, phone, staff user (or "")
PROVIDERS = [
    ("Jugendmigrationsdienst Koblenz", ProviderKind.ASSOCIATION, "Altstadt",
     "jmd@jmd-koblenz.example", "0261 000 1001", "verein"),
    ("Grundschule am Moselufer", ProviderKind.INSTITUTION, "Lützel",
     "sekretariat@gs-moselufer.example", "0261 000 1002", "school"),
    ("Caritas Sprachtreff", ProviderKind.ASSOCIATION, "Süd",
     "sprachtreff@caritas.example", "0261 000 1003", ""),
    ("TuS Rot-Weiß Koblenz", ProviderKind.ASSOCIATION, "Karthause",
     "jugend@tus-rotweiss.example", "0261 000 1004", ""),
    ("Volkshochschule Koblenz", ProviderKind.INSTITUTION, "Altstadt",
     "info@vhs.example", "0261 000 1005", ""),
    ("Agentur für Arbeit, Berufsberatung", ProviderKind.INSTITUTION, "Altstadt",
     "berufsberatung@arbeitsagentur.example", "0261 000 1006", ""),
    ("Stadtbibliothek Koblenz", ProviderKind.INSTITUTION, "Altstadt",
     "bibliothek@stadt.example", "0261 000 1007", ""),
    ("Familienzentrum Neuendorf", ProviderKind.ASSOCIATION, "Neuendorf",
     "kontakt@fz-neuendorf.example", "0261 000 1008", ""),
]  # fmt: skip

K = OfferKind
# title, provider, kind, district, ages, languages, weekdays, times, fee, places, extra
OFFERS: list[tuple[Any, ...]] = [
    ("Deutschkurs für Kinder (nachmittags)", "Jugendmigrationsdienst Koblenz", K.GERMAN_COURSE,
     "Lützel", (6, 10), ["Ukrainisch", "Russisch"], [0, 2], ("14:30", "16:00"), None, 4, {}),
    ("Deutsch-Intensivkurs für Jugendliche", "Jugendmigrationsdienst Koblenz", K.GERMAN_COURSE,
     "Altstadt", (12, 17), ["Arabisch", "Dari"], [0, 1, 2, 3], ("09:00", "12:00"), None, 2, {}),
    ("Sprachcafé für Kinder", "Caritas Sprachtreff", K.GERMAN_COURSE, "Süd", (7, 12),
     ["Arabisch", "Türkisch"], [3], ("15:00", "16:30"), None, None, {}),
    ("Deutsch im Stadtteil Karthause", "Volkshochschule Koblenz", K.GERMAN_COURSE, "Karthause",
     (10, 16), ["Dari", "Paschtu"], [1, 3], ("15:00", "17:00"), Decimal("30"), 6,
     {"but_eligible": True}),
    ("Hausaufgabenhilfe Moselufer", "Grundschule am Moselufer", K.HOMEWORK_HELP, "Lützel",
     (6, 10), ["Ukrainisch", "Arabisch"], [0, 1, 2, 3], ("13:00", "14:30"), None, 5, {}),
    ("Lernhilfe in der Bibliothek", "Stadtbibliothek Koblenz", K.HOMEWORK_HELP, "Altstadt",
     (9, 16), ["Englisch", "Arabisch"], [1, 3], ("15:00", "17:00"), None, None,
     {"accessible": True}),
    ("Hausaufgabentreff Neuendorf", "Familienzentrum Neuendorf", K.HOMEWORK_HELP, "Neuendorf",
     (6, 12), ["Rumänisch", "Türkisch"], [0, 2, 4], ("14:00", "15:30"), None, 8, {}),
    ("Sommer-Sprachcamp", "Jugendmigrationsdienst Koblenz", K.HOLIDAY, "Ehrenbreitstein",
     (8, 14), ["Ukrainisch", "Arabisch", "Dari"], [0, 1, 2, 3, 4], ("09:00", "15:00"), None, 10,
     {"dates": (40, 52)}),
    ("Herbstferien-Werkstatt", "Familienzentrum Neuendorf", K.HOLIDAY, "Neuendorf", (6, 11),
     ["Rumänisch"], [0, 1, 2, 3], ("10:00", "14:00"), Decimal("15"), 12,
     {"but_eligible": True, "dates": (20, 24)}),
    ("Ferienprogramm Bibliothek", "Stadtbibliothek Koblenz", K.HOLIDAY, "Altstadt", (7, 13),
     [], [1, 3], ("10:00", "12:00"), None, None, {"dates": (30, 45)}),
    ("Berufsorientierung für Neuzugewanderte", "Agentur für Arbeit, Berufsberatung",
     K.VOCATIONAL_ORIENTATION, "Altstadt", (15, 20), ["Arabisch", "Englisch"], [2],
     ("10:00", "12:00"), None, 15, {}),
    ("Praktikumsbörse Ausbildung", "Jugendmigrationsdienst Koblenz", K.VOCATIONAL_ORIENTATION,
     "Altstadt", (16, 21), ["Dari", "Ukrainisch"], [4], ("13:00", "15:00"), None, 6, {}),
    ("Jugendmigrationsdienst: Beratung", "Jugendmigrationsdienst Koblenz", K.COUNSELLING,
     "Altstadt", (12, 27), ["Arabisch", "Dari", "Ukrainisch", "Russisch"], [0, 1, 2, 3],
     ("09:00", "16:00"), None, None, {"registration_way": "direct"}),
    ("Familienberatung im Stadtteil", "Familienzentrum Neuendorf", K.COUNSELLING, "Neuendorf",
     (None, None), ["Rumänisch", "Türkisch"], [1], ("09:00", "12:00"), None, None,
     {"registration_way": "open"}),
    ("Fußball für alle", "TuS Rot-Weiß Koblenz", K.LEISURE, "Karthause", (7, 12), ["Englisch"],
     [1, 3], ("16:30", "18:00"), None, 6, {"accessible": True}),
    ("Schwimmen lernen", "TuS Rot-Weiß Koblenz", K.LEISURE, "Goldgrube", (6, 10), [],
     [4], ("15:00", "16:00"), Decimal("20"), 0, {"but_eligible": True}),
    ("Kreativ-Werkstatt", "Caritas Sprachtreff", K.LEISURE, "Süd", (8, 14),
     ["Arabisch", "Ukrainisch"], [2], ("15:30", "17:30"), None, 5, {}),
    ("Elternkurs: Schule in Deutschland", "Volkshochschule Koblenz", K.PARENTS_COURSE,
     "Altstadt", (None, None), ["Arabisch", "Ukrainisch", "Dari"], [1], ("18:00", "19:30"),
     None, 12, {"grades": "Eltern von Kindern aller Klassen"}),
    ("Elterncafé Kita und Schule", "Familienzentrum Neuendorf", K.PARENTS_COURSE, "Neuendorf",
     (None, None), ["Rumänisch", "Türkisch"], [3], ("09:30", "11:00"), None, None,
     {"registration_way": "open"}),
    ("Lesepaten", "Stadtbibliothek Koblenz", K.OTHER, "Altstadt", (6, 10), [], [2],
     ("15:00", "16:00"), None, 3, {}),
    ("Mentoring für Jugendliche", "Caritas Sprachtreff", K.OTHER, "Süd", (13, 18),
     ["Arabisch", "Dari"], [], (None, None), None, 4,
     {"schedule_note": "Termine nach Absprache"}),
    ("Vorkurs Deutsch vor der Einschulung", "Grundschule am Moselufer", K.GERMAN_COURSE,
     "Lützel", (5, 6), ["Ukrainisch", "Arabisch"], [1, 3], ("10:00", "11:30"), None, 6,
     {"grades": "vor Klasse 1"}),
]  # fmt: skip


def _time(value: str | None) -> dt.time | None:
    return dt.time.fromisoformat(value) if value else None


def _providers(districts: dict[str, Any], users: dict[str, User]) -> dict[str, Provider]:
    staff_group = Group.objects.get(name=INSTITUTION_STAFF)
    verein, created = User.objects.get_or_create(
        username="verein",
        defaults={"first_name": "Miriam", "last_name": "Weber",
                  "email": "verein@ankommen.example"},
    )  # fmt: skip
    if created:
        verein.set_password("demo")
        verein.save(update_fields=["password"])
    verein.groups.add(staff_group)
    people = {**users, "verein": verein}
    found = {}
    for name, kind, district, email, phone, staff in PROVIDERS:
        provider, _created = Provider.objects.get_or_create(
            name=name,
            defaults={"kind": kind, "district": districts[district], "email": email,
                      "phone": phone, "address": f"{district}, 56068 Koblenz"},
        )  # fmt: skip
        if staff and staff in people:
            assign_perm("offers.staff_provider", people[staff], provider)
        found[name] = provider
    return found


def _offers(districts: dict[str, Any], providers: dict[str, Provider], by: User) -> list[Offer]:
    from offers.services import offer_save

    today = timezone.localdate()
    made = []
    for title, provider, kind, district, ages, languages, days, times, fee, places, extra in OFFERS:
        existing = Offer.objects.filter(title=title).first()
        if existing is not None:
            made.append(existing)
            continue
        extra = dict(extra)
        dates = extra.pop("dates", None)
        data = {
            "provider": providers[provider], "kind": kind, "title": title,
            "description": "", "languages": languages, "min_age": ages[0], "max_age": ages[1],
            "district": districts[district], "address": f"{district}, 56068 Koblenz",
            "weekdays": days, "time_from": _time(times[0]), "time_to": _time(times[1]),
            "is_free": fee is None, "fee": fee, "free_places": places, "is_active": True,
            "starts_on": today + dt.timedelta(days=dates[0]) if dates else None,
            "ends_on": today + dt.timedelta(days=dates[1]) if dates else None,
            **extra,
        }  # fmt: skip
        made.append(offer_save(by=by, data=data))
    return made


def _registrations(offers: list[Offer], users: dict[str, User]) -> int:
    """One registration per state, on open demo cases of Team Nord (waiting ones first)."""
    from offers import services

    if OfferRegistration.objects.exists():
        return 0
    coordinator = users["coordinator"]
    cases = list(
        Case.objects.filter(team=coordinator.team, erased_at__isnull=True)
        .exclude(state=State.CLOSED)
        .order_by("waiting_since", "pk")
    )
    by_title = {o.title: o for o in offers}
    verein = User.objects.get(username="verein")
    today = timezone.localdate()
    plans = [
        ("Deutschkurs für Kinder (nachmittags)", []),
        ("Deutsch-Intensivkurs für Jugendliche", ["confirm"]),
        ("Praktikumsbörse Ausbildung", ["decline"]),
        ("Sommer-Sprachcamp", ["withdraw"]),
        ("Hausaufgabenhilfe Moselufer", ["confirm", "start"]),
        ("Fußball für alle", ["confirm", "start", "end"]),
        ("Kreativ-Werkstatt", ["confirm", "start", "drop_out"]),
        ("Jugendmigrationsdienst: Beratung", []),
        ("Sprachcafé für Kinder", ["confirm"]),
    ]
    made = 0
    for (title, steps), case in zip(plans, cases, strict=False):
        offer = by_title[title]
        provider_staff = {"Jugendmigrationsdienst Koblenz": verein,
                          "Grundschule am Moselufer": users.get("school")}  # fmt: skip
        answerer = provider_staff.get(offer.provider.name) or coordinator
        r = services.registration_create(case=case, offer=offer, by=coordinator)
        for step in steps:
            if step == "confirm":
                r = services.registration_confirm(registration=r, by=answerer)
            elif step == "decline":
                r = services.registration_decline(registration=r, by=answerer,
                                                  reason="offer_age")  # fmt: skip
            elif step == "withdraw":
                r = services.registration_withdraw(registration=r, by=coordinator,
                                                   comment="Familie verreist")  # fmt: skip
            elif step == "start":
                r = services.registration_start(registration=r, by=answerer, first_day=today)
            elif step == "end":
                r = services.registration_end(registration=r, by=answerer, last_day=today)
            elif step == "drop_out":
                r = services.registration_drop_out(registration=r, by=answerer, last_day=today)
        made += 1
    return made


def seed_offers(*, users: dict[str, User], districts: dict[str, Any]) -> tuple[int, int]:
    """Providers, offers and registrations (idempotent); returns (offers, new registrations)."""
    providers = _providers(districts, users)
    offers = _offers(districts, providers, users["coordinator"])
    return len(offers), _registrations(offers, users)
