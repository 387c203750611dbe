"""Rows of an office's list of schools and Kitas: the institution, its district (created when
new) and its free places per grade or age group. A row becomes (or updates) an institution
through ``referrals.services.institution_import``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from cases.identity import normalise
from cases.models import Group, groups_for_target
from coordination.models import District
from referrals.models import Institution, InstitutionKind, target_for_kind
from referrals.services import institution_import
from transfer import values as v
from transfer.columns import Column


def _label(name: str) -> Any:
    return getattr(Institution._meta.get_field(name), "verbose_name", name)


def _places_synonyms(group: Group) -> tuple[str, ...]:
    if group.value.startswith("g"):
        n = int(group.value[1:])
        return (f"plaetze klasse {n}", f"freie plaetze klasse {n}", f"klasse {n}", f"kl {n}",
                f"{n} klasse", f"plaetze kl {n}", f"grade {n}", f"jahrgang {n}")  # fmt: skip
    word = {"kita_u3": "u3", "kita_3": "ue3", "bvj": "bvj", "bbs": "bbs"}[group.value]
    return (f"plaetze {word}", f"freie plaetze {word}", word)


COLUMNS: list[Column] = [
    Column("name", _label("name"), ("name", "einrichtung", "schule", "kita", "bezeichnung",
                                    "name der einrichtung", "institution")),
    Column("kind", _label("kind"), ("art", "schulart", "schulform", "typ", "einrichtungsart",
                                    "kind", "type")),
    Column("district", _label("district"), ("stadtteil", "bezirk", "ortsteil", "sozialraum")),
    Column("address", _label("address"), ("adresse", "anschrift", "strasse")),
    Column("email", _label("email"), ("email", "e mail", "mail", "kontakt e mail")),
    Column("phone", _label("phone"), ("telefon", "tel", "telefonnummer")),
    Column("has_intensive_course", _label("has_intensive_course"),
           ("deutsch intensivkurs", "intensivkurs", "dik", "sprachfoerderung")),
    Column("has_bvj", _label("has_bvj"), ("bvj s", "bvj angebot")),
    Column("is_active", _label("is_active"), ("aktiv", "active")),
    *[
        Column(f"places_{g.value}", format_lazy("{}: {}", _("free places"), g.label),
               _places_synonyms(g))
        for g in Group
    ],
]  # fmt: skip
REQUIRED_ONE_OF = (("name",), ("kind",), ("district",))

KINDS = {
    normalise(word): kind
    for kind, words in {
        InstitutionKind.GRUNDSCHULE: ["grundschule", "gs", "primary school", "primarstufe"],
        InstitutionKind.REALSCHULE_PLUS: ["realschule plus", "realschule", "rs+", "rs plus",
                                          "rsplus"],
        InstitutionKind.IGS: ["igs", "gesamtschule", "integrierte gesamtschule"],
        InstitutionKind.GYMNASIUM: ["gymnasium", "gym", "gy"],
        InstitutionKind.FOERDERSCHULE: ["foerderschule", "förderschule", "sonderschule"],
        InstitutionKind.BBS: ["bbs", "berufsschule", "berufsbildende schule", "vocational school"],
        InstitutionKind.KITA: ["kita", "kindergarten", "krippe", "kindertagesstaette",
                               "kindertagesstätte", "kiga"],
    }.items()
    for word in words
}  # fmt: skip


class InstitutionRowForm(forms.ModelForm):
    class Meta:
        model = Institution
        fields = ("name", "kind", "address", "email", "phone", "has_intensive_course",
                  "has_bvj", "is_active")  # fmt: skip


@dataclass
class Context:
    districts: dict[str, District]
    institutions: dict[str, Institution]
    seen: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls) -> Context:
        return cls(
            districts={normalise(d.name): d for d in District.objects.all()},
            institutions={i.name: i for i in Institution.objects.all()},
        )


@dataclass
class RowCheck:
    line: int
    errors: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    district_name: str = ""
    places: dict[str, int] = field(default_factory=dict)
    matches: list[int] = field(default_factory=list)  # institutions are updated, never doubled
    shown: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def check_row(line: int, values: dict[str, Any], ctx: Context) -> RowCheck:
    row = RowCheck(line=line)
    name = v.text(values.get("name"))
    kind = ""
    try:
        kind = v.parse_word(values.get("kind"), KINDS, gettext("kind of institution"))
    except v.BadValue as exc:
        row.errors.append(("kind", str(exc.message)))
    data: dict[str, Any] = {"name": name, "kind": kind, "is_active": True}
    for key in ("address", "email", "phone"):
        if key in values:
            data[key] = v.text(values[key])
    for key in ("has_intensive_course", "has_bvj", "is_active"):
        if key in values:
            try:
                data[key] = bool(v.parse_bool(values[key]))
            except v.BadValue as exc:
                row.errors.append((key, str(exc.message)))
    existing = ctx.institutions.get(name)
    if existing is not None:
        # Columns the file lacks keep their stored values.
        for key in InstitutionRowForm.Meta.fields:
            data.setdefault(key, getattr(existing, key))
    failed = {f for f, _m in row.errors}
    form = InstitutionRowForm(
        data={k: x for k, x in data.items() if k not in failed}, instance=existing
    )
    if not form.is_valid():
        for key, messages in form.errors.items():
            if key not in failed:
                row.errors.extend((key if key != "__all__" else "", str(m)) for m in messages)
    else:
        row.data = {k: form.cleaned_data[k] for k in InstitutionRowForm.Meta.fields}
    district = v.text(values.get("district"))
    if not district:
        row.errors.append(("district", gettext("This field is required.")))
    elif normalise(district) in ctx.districts:
        row.district_name = ctx.districts[normalise(district)].name
    else:
        row.district_name = district[:80]
        row.warnings.append(("district", gettext("A new district is created.")))
    allowed = set(groups_for_target(target_for_kind(kind))) if kind else set()
    for key in values:
        if not key.startswith("places_"):
            continue
        group = key.removeprefix("places_")
        try:
            free = v.parse_int(values[key])
        except v.BadValue as exc:
            row.errors.append((key, str(exc.message)))
            continue
        if free is None:
            continue
        if not 0 <= free <= 999:
            row.errors.append((key, gettext("Free places must be between 0 and 999.")))
        elif kind and group not in allowed:
            if free:
                row.errors.append(
                    (key, gettext("This grade or age group does not fit this institution."))
                )
        else:
            row.places[group] = free
    first = ctx.seen.setdefault(normalise(name), line)
    if name and first != line:
        row.errors.append(("name", gettext(
            "The same institution as in line %(line)d of this file."
        ) % {"line": first}))  # fmt: skip
    if row.ok:
        row.shown = [
            (str(_label("name")), name),
            (str(_label("kind")), str(InstitutionKind(kind).label)),
            (str(_label("district")), row.district_name),
            (gettext("free places"), ", ".join(
                f"{Group(g).label}: {n}" for g, n in sorted(row.places.items())
            )),
            (gettext("state"), gettext("updated") if existing else gettext("new")),
        ]  # fmt: skip
    return row


def write_row(
    row: RowCheck, *, by: Any, team: Any, source: str, detail: dict[str, Any]
) -> tuple[Institution, str]:
    institution, created = institution_import(
        by=by, data=row.data, district_name=row.district_name, places=row.places
    )
    return institution, "created" if created else "updated"
