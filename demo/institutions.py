"""Demo institutions (fictional names) across the city's districts, with free places.

A few figures are dated weeks back, so the coordinator's suggestion list shows how stale
free-place figures are flagged.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from cases.models import Group
from referrals.models import Institution, InstitutionKind, Places

# name, kind, district, intensive course, BVJ-S, {group: free}
INSTITUTIONS: list[tuple[str, str, str, bool, bool, dict[str, int]]] = [
    ("Grundschule am Moselufer", InstitutionKind.GRUNDSCHULE, "Lützel", True, False,
     {"g01": 2, "g02": 1, "g03": 0, "g04": 1}),
    ("Grundschule Rheinblick", InstitutionKind.GRUNDSCHULE, "Altstadt", False, False,
     {"g01": 1, "g02": 2, "g03": 1, "g04": 0}),
    ("Grundschule Karthause-Nord", InstitutionKind.GRUNDSCHULE, "Karthause", True, False,
     {"g01": 3, "g02": 0, "g03": 2, "g04": 1}),
    ("Grundschule Metternich", InstitutionKind.GRUNDSCHULE, "Metternich", False, False,
     {"g01": 1, "g02": 1, "g03": 1, "g04": 1}),
    ("Realschule plus Schängel", InstitutionKind.REALSCHULE_PLUS, "Süd", True, False,
     {"g05": 2, "g06": 1, "g07": 2, "g08": 1, "g09": 0, "g10": 1}),
    ("Integrierte Gesamtschule Deutschherren", InstitutionKind.IGS, "Goldgrube", True, False,
     {"g05": 1, "g06": 2, "g07": 1, "g08": 2, "g09": 1, "g10": 0}),
    ("Gymnasium an der Festung", InstitutionKind.GYMNASIUM, "Ehrenbreitstein", False, False,
     {"g05": 1, "g06": 0, "g07": 1, "g08": 0, "g09": 1, "g10": 1, "g11": 1}),
    ("Förderschule Lernen Am Wald", InstitutionKind.FOERDERSCHULE, "Rauental", False, False,
     {"g03": 1, "g05": 1, "g07": 1}),
    ("Berufsbildende Schule Am Deutschen Eck", InstitutionKind.BBS, "Altstadt", True, True,
     {"bvj": 4, "bbs": 2}),
    ("Kita Sonnenblume", InstitutionKind.KITA, "Lützel", False, False,
     {"kita_u3": 1, "kita_3": 2}),
    ("Kita Regenbogen", InstitutionKind.KITA, "Neuendorf", False, False,
     {"kita_u3": 0, "kita_3": 1}),
    ("Kita Kunterbunt", InstitutionKind.KITA, "Karthause", False, False,
     {"kita_u3": 2, "kita_3": 3}),
    ("Kita Rasselbande", InstitutionKind.KITA, "Metternich", False, False,
     {"kita_u3": 0, "kita_3": 0}),
    ("Grundschule Neuendorf", InstitutionKind.GRUNDSCHULE, "Neuendorf", False, False,
     {"g01": 1, "g02": 2, "g03": 0, "g04": 1}),
    ("Grundschule Horchheimer Höhe", InstitutionKind.GRUNDSCHULE, "Horchheim", True, False,
     {"g01": 2, "g02": 1, "g03": 1, "g04": 2}),
    ("Realschule plus Moselweiß", InstitutionKind.REALSCHULE_PLUS, "Moselweiß", True, False,
     {"g05": 1, "g06": 1, "g07": 0, "g08": 2, "g09": 1, "g10": 0}),
    ("Kita Pusteblume", InstitutionKind.KITA, "Altstadt", False, False,
     {"kita_u3": 1, "kita_3": 1}),
]  # fmt: skip

# Institutions whose figures were last confirmed this many days ago (stale in the demo).
STALE_DAYS = {"Grundschule Metternich": 30, "Kita Regenbogen": 21, "Gymnasium an der Festung": 45}


@transaction.atomic
def seed_institutions(districts: dict[str, Any]) -> dict[str, Institution]:
    """Create the demo institutions and their places once (idempotent)."""
    result = {}
    for name, kind, district, intensive, bvj, places in INSTITUTIONS:
        slug = (
            name.lower().replace(" ", "-").replace("ä", "ae").replace("ö", "oe").replace("ß", "ss")
        )
        institution, created = Institution.objects.get_or_create(
            name=name,
            defaults={
                "kind": kind,
                "district": districts[district],
                "address": f"{name}, 56068 Koblenz",
                "email": f"{slug.replace('ü', 'ue')[:40]}@schulen.example",
                "has_intensive_course": intensive,
                "has_bvj": bvj,
            },
        )
        if created:
            updated = timezone.now() - dt.timedelta(days=STALE_DAYS.get(name, 0))
            for group, free in places.items():
                Places.objects.create(
                    institution=institution, group=Group(group), free=free, updated_at=updated
                )
        result[name] = institution
    return result
