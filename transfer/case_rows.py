"""Rows of an office's case list: which columns there can be, how a row is checked, and how
a checked row becomes a case.

A row is checked by the intake form itself (``cases.forms.CaseForm``, and ``GuardianForm`` for
the contact columns) after its values are parsed as the office wrote them (``values``): the
rules of a case exist once. A row becomes a case through ``cases.services.case_import``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from cases.forms import CaseForm, GuardianForm
from cases.identity import normalise
from cases.models import Case, CloseReason, State, has_placement_data
from cases.selectors import cases_matching_identity
from cases.services import case_import
from coordination.models import District
from transfer import values as v
from transfer.columns import Column


def _label(name: str) -> Any:
    return Case._meta.get_field(name).verbose_name


COLUMNS: list[Column] = [
    Column("given_name", _label("given_name"),
           ("vorname", "vornamen", "rufname", "first name", "firstname", "given name",
            "given names", "vorname kind")),
    Column("family_name", _label("family_name"),
           ("nachname", "familienname", "name", "zuname", "last name", "lastname", "surname",
            "family name", "nachname kind")),
    Column("full_name", _("full name (family name, given name)"),
           ("name vorname", "nachname vorname", "vor und nachname", "vorname nachname",
            "name des kindes", "kind", "schueler", "schuelerin", "full name")),
    Column("birth_date", _label("birth_date"),
           ("geburtsdatum", "geb", "geb datum", "geboren", "geboren am", "geburtstag",
            "geburtsjahr", "date of birth", "birth date", "birthdate", "dob")),
    Column("gender", _label("gender"), ("geschlecht", "sex", "m w", "m w d")),
    Column("nationality", _label("nationality"),
           ("staatsangehoerigkeit", "nationalitaet", "herkunftsland", "herkunft", "land",
            "staatsangehoerigkeit kind", "country")),
    Column("languages", _label("languages"),
           ("sprache", "sprachen", "sprache n", "muttersprache", "herkunftssprache",
            "familiensprache",
            "erstsprache", "language", "languages spoken")),
    Column("interpreter_needed", _label("interpreter_needed"),
           ("dolmetscher", "dolmetscher noetig", "dolmetscher benoetigt", "sprachmittler",
            "interpreter")),
    Column("interpreter_language", _label("interpreter_language"),
           ("dolmetschersprache", "sprache dolmetscher", "sprache sprachmittler")),
    Column("address", _label("address"),
           ("adresse", "anschrift", "wohnadresse", "strasse", "wohnort", "unterkunft")),
    Column("arrival_germany", _label("arrival_germany"),
           ("einreise", "einreise deutschland", "einreisedatum", "in deutschland seit",
            "arrival germany")),
    Column("arrival_city", _label("arrival_city"),
           ("zuzug", "zuzugsdatum", "in der stadt seit", "zuweisung", "zugewiesen am",
            "ankunft", "ankunft stadt", "arrival city")),
    Column("residence_status", _label("residence_status"),
           ("aufenthaltsstatus", "aufenthalt", "aufenthaltstitel", "status aufenthalt")),
    Column("school_years", _label("school_years"),
           ("schulbesuchsjahre", "schuljahre", "jahre schulbesuch", "schulbesuch jahre",
            "bisherige schuljahre", "schulbesuch", "years of schooling")),
    Column("last_grade", _label("last_grade"),
           ("letzte klasse", "zuletzt besuchte klasse", "bisherige klasse")),
    Column("literate_own_script", _label("literate_own_script"),
           ("alphabetisiert", "lesen und schreiben", "literate")),
    Column("german_level", _label("german_level"),
           ("deutschkenntnisse", "deutsch", "deutschniveau", "sprachniveau", "sprachstand",
            "german")),
    Column("health_notes", _label("health_notes"),
           ("gesundheit", "gesundheitliche hinweise", "health")),
    Column("support_needed", _label("support_needed"),
           ("foerderbedarf", "unterstuetzungsbedarf", "foerderbedarf ja nein")),
    Column("support_notes", _label("support_notes"),
           ("besondere beduerfnisse", "foerderbedarf details", "unterstuetzung", "special needs")),
    Column("measles_proof", _label("measles_proof"),
           ("masern", "masernschutz", "masernnachweis", "masernimpfung", "measles")),
    Column("school_health_check", _label("school_health_check"),
           ("schuleingangsuntersuchung", "seu", "einschulungsuntersuchung")),
    Column("target_type", _label("target_type"),
           ("ziel", "schulart", "schulform", "platzart", "angebot", "bedarf", "einrichtungsart",
            "gesucht", "target")),
    Column("wanted_group", _label("wanted_group"),
           ("klasse", "klassenstufe", "jahrgangsstufe", "jahrgang", "gewuenschte klasse",
            "gruppe", "altersgruppe", "grade", "wanted grade")),
    Column("district", _label("district"),
           ("stadtteil", "bezirk", "ortsteil", "sozialraum", "quartier")),
    Column("waiting_since", _label("waiting_since"),
           ("ohne platz seit", "wartet seit", "erstkontakt", "erfasst am", "anmeldedatum",
            "anmeldung", "aufnahmedatum", "waiting since", "intake date")),
    Column("notes", _label("notes"),
           ("bemerkung", "bemerkungen", "notiz", "notizen", "hinweise", "anmerkung",
            "anmerkungen", "kommentar", "comments")),
    Column("state", _("state of the case"),
           ("status", "stand", "bearbeitungsstand", "fallstatus", "state")),
    Column("close_reason", _("reason for closing"), ("abschlussgrund", "grund", "close reason")),
    Column("contact_name", _("contact: name"),
           ("kontakt", "kontaktperson", "ansprechpartner", "erziehungsberechtigte",
            "erziehungsberechtigter", "eltern", "name eltern", "sorgeberechtigte",
            "contact", "parent", "guardian")),
    Column("contact_relation", _("contact: relation"),
           ("beziehung", "verhaeltnis", "verwandtschaft", "relation")),
    Column("contact_phone", _("contact: phone"),
           ("telefon", "tel", "telefonnummer", "handy", "mobil", "phone", "mobile")),
    Column("contact_email", _("contact: e-mail"),
           ("email", "e mail", "mail", "emailadresse", "e mail adresse")),
    Column("contact_language", _("contact: preferred language"),
           ("bevorzugte sprache", "sprache kontakt", "preferred language")),
]  # fmt: skip
COLUMN_LABELS = {c.name: c.label for c in COLUMNS}
REQUIRED_ONE_OF = (("given_name", "full_name"), ("family_name", "full_name"), ("birth_date",))
CONTACT_FIELDS = {
    "contact_name": "name",
    "contact_relation": "relation",
    "contact_phone": "phone",
    "contact_email": "email",
    "contact_language": "preferred_language",
}
CLOSE_REASONS = {
    **{k: reason for k, (state, reason) in v.STATES.items() if state == State.CLOSED},
    normalise("dublette"): CloseReason.DUPLICATE,
    normalise("duplicate"): CloseReason.DUPLICATE,
    normalise("sonstiges"): CloseReason.OTHER,
    normalise("other"): CloseReason.OTHER,
}


@dataclass
class Context:
    """What checking rows needs once per file: the districts by name, the identities seen."""

    districts: dict[str, District]
    seen: dict[str, int] = field(default_factory=dict)  # identity key -> first line

    @classmethod
    def load(cls) -> Context:
        return cls(districts={normalise(d.name): d for d in District.objects.all()})


@dataclass
class RowCheck:
    line: int
    errors: list[tuple[str, str]] = field(default_factory=list)  # (field, message)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # case_import's data
    guardians: list[dict[str, Any]] = field(default_factory=list)
    state: str = State.INTAKE
    close_reason: str = ""
    matches: list[int] = field(default_factory=list)  # ids of likely duplicates
    shown: list[tuple[str, str]] = field(default_factory=list)  # preview (label, value)

    @property
    def ok(self) -> bool:
        return not self.errors


def _form_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def check_row(line: int, values: dict[str, Any], ctx: Context) -> RowCheck:
    """Parse and validate one row (``values``: field -> cell as read from the file)."""
    row = RowCheck(line=line)
    parsed: dict[str, Any] = {}

    def parse(name: str, parser: Any) -> Any:
        if name not in values:
            return None
        try:
            return parser(values[name])
        except v.BadValue as exc:
            row.errors.append((name, str(exc.message)))
            return None

    given = v.text(values.get("given_name"))
    family = v.text(values.get("family_name"))
    full = v.text(values.get("full_name"))
    if full and not (given or family):
        family, sep, given = (p.strip() for p in full.partition(","))
        if not sep:  # "Amina Haddad": the last word is the family name
            given, _sep, family = full.rpartition(" ")
    parsed["given_name"], parsed["family_name"] = given, family
    for name in ("nationality", "interpreter_language", "address", "last_grade",
                 "health_notes", "support_notes", "notes"):  # fmt: skip
        parsed[name] = v.text(values.get(name)) if name in values else ""
    languages = v.text(values.get("languages"))
    for sep in ("/", " und ", " + ", " & "):
        languages = languages.replace(sep, ",")
    parsed["languages"] = languages
    birth = parse("birth_date", lambda x: v.parse_date(x, year_only=True))
    if birth is not None:
        parsed["birth_date"], estimated = birth
        if estimated and parsed["birth_date"] is not None:
            year = parsed["birth_date"].year
            row.warnings.append(("birth_date", gettext(
                "Only the year is known: stored as 1 January %(year)d, with a note."
            ) % {"year": year}))  # fmt: skip
            note = gettext("Birth date estimated: only the year %(year)d is known.") % {
                "year": year
            }
            parsed["notes"] = f"{note}\n{parsed['notes']}".strip()
    for name in ("arrival_germany", "arrival_city", "waiting_since"):
        got = parse(name, v.parse_date)
        parsed[name] = got[0] if got else None
    for name in ("interpreter_needed", "literate_own_script", "support_needed",
                 "measles_proof", "school_health_check"):  # fmt: skip
        parsed[name] = parse(name, v.parse_bool)
    parsed["school_years"] = parse("school_years", v.parse_int)
    parsed["gender"] = parse("gender", lambda x: v.parse_word(x, v.GENDERS, gettext("gender")))
    parsed["german_level"] = parse(
        "german_level", lambda x: v.parse_word(x, v.GERMAN_LEVELS, gettext("German level"))
    )
    parsed["residence_status"] = parse(
        "residence_status",
        lambda x: v.parse_word(x, v.RESIDENCE, gettext("residence status")),
    )
    group = parse("wanted_group", v.parse_group) or ""
    target = parse("target_type", lambda x: v.parse_word(x, v.TARGETS, gettext("target"))) or ""
    if not target and group and "target_type" not in dict(row.errors):
        target = v.group_target(group)
        row.warnings.append(("target_type", gettext("Target taken from the grade or age group.")))
    parsed["wanted_group"], parsed["target_type"] = group, target
    district_name = v.text(values.get("district"))
    district = ctx.districts.get(normalise(district_name)) if district_name else None
    if district_name and district is None:
        row.errors.append(("district", gettext(
            "“%(value)s” is not a known district: add it (administration or the import of "
            "institutions and districts) or correct the name."
        ) % {"value": district_name[:60]}))  # fmt: skip
    parsed["district"] = district.pk if district else None
    state_word = v.text(values.get("state"))
    if state_word:
        found = v.STATES.get(normalise(state_word))
        if found is None:
            row.errors.append(("state", gettext(
                "“%(value)s” is not a known state. Known are e.g.: neu, in Klärung, sucht Platz, "
                "ruht, abgeschlossen, versorgt, weggezogen. Open referrals cannot be imported: "
                "import such a case as “sucht Platz” and refer it again."
            ) % {"value": state_word[:40]}))  # fmt: skip
        else:
            row.state, row.close_reason = found
    reason_word = v.text(values.get("close_reason"))
    if reason_word:
        reason = CLOSE_REASONS.get(normalise(reason_word))
        if reason is None:
            row.errors.append(("close_reason", gettext(
                "“%(value)s” is not a known reason for closing."
            ) % {"value": reason_word[:40]}))  # fmt: skip
        elif row.state == State.CLOSED:
            row.close_reason = reason

    failed = {name for name, _m in row.errors}
    form = CaseForm(data={k: _form_value(x) for k, x in parsed.items() if k not in failed})
    if not form.is_valid():
        for name, messages in form.errors.items():
            if name not in failed:
                row.errors.extend((name if name != "__all__" else "", str(m)) for m in messages)
    else:
        row.data = form.service_data()
        if row.state == State.READY and not has_placement_data(Case(**_placement(row.data))):
            row.errors.append(("state", gettext(
                "A case can only look for a place once target, birth date, district and "
                "wanted grade or age group are recorded."
            )))  # fmt: skip
    _check_contact(row, values, failed)
    if row.ok:
        _check_identity(row, ctx)
        row.shown = _shown(row, form)
    return row


def _placement(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "target_type": data.get("target_type"),
        "birth_date": data.get("birth_date"),
        "district_id": getattr(data.get("district"), "pk", data.get("district")),
        "wanted_group": data.get("wanted_group"),
    }


def _check_contact(row: RowCheck, values: dict[str, Any], failed: set[str]) -> None:
    given = {k: v.text(values.get(k)) for k in CONTACT_FIELDS if k in values}
    if not any(given.values()):
        return
    relation = given.get("contact_relation", "")
    if relation:
        try:
            relation = v.parse_word(relation, v.RELATIONS, gettext("relation"))
        except v.BadValue as exc:
            row.errors.append(("contact_relation", str(exc.message)))
            return
    data: dict[str, Any] = {CONTACT_FIELDS[k]: x for k, x in given.items()}
    data["relation"] = relation
    data["is_contact_person"] = True
    form = GuardianForm(data=data)
    if not form.is_valid():
        back = {model: name for name, model in CONTACT_FIELDS.items()}
        for name, messages in form.errors.items():
            row.errors.extend((back.get(name, "contact_name"), str(m)) for m in messages)
        return
    row.guardians = [dict(form.cleaned_data)]


def identity_key(given: str, family: str, birth: dt.date | None) -> str:
    return f"{normalise(given)}|{normalise(family)}|{birth.isoformat() if birth else ''}"


def _check_identity(row: RowCheck, ctx: Context) -> None:
    data = row.data
    ident = identity_key(data["given_name"], data["family_name"], data.get("birth_date"))
    first = ctx.seen.setdefault(ident, row.line)
    if first != row.line:
        row.errors.append(("", gettext(
            "The same child (name and birth date) as in line %(line)d of this file."
        ) % {"line": first}))  # fmt: skip
        return
    row.matches = list(
        cases_matching_identity(
            given_name=data["given_name"],
            family_name=data["family_name"],
            birth_date=data.get("birth_date"),
        )
        .order_by("id")
        .values_list("pk", flat=True)[:5]
    )


def _shown(row: RowCheck, form: CaseForm) -> list[tuple[str, str]]:
    """The row as it will be stored, as the case page shows it."""
    out = []
    shown = ("given_name", "family_name", "birth_date", "target_type", "wanted_group",
             "district", "languages", "arrival_city", "school_years", "german_level")  # fmt: skip
    for name in shown:
        value = form.cleaned_data.get(name)
        if value in (None, "", []):
            continue
        bound = form.fields[name]
        if isinstance(value, dt.date):
            text = date_format(value, "d.m.Y")
        elif isinstance(value, list):
            text = ", ".join(value)
        elif getattr(bound, "choices", None) and not isinstance(value, District):
            text = str(dict(bound.choices).get(value, value))  # type: ignore[attr-defined]
        else:
            text = str(value)
        out.append((str(bound.label), text))
    out.append((gettext("state"), str(State(row.state).label)))
    return out


def write_row(
    row: RowCheck, *, by: Any, team: Any, source: str, detail: dict[str, Any]
) -> tuple[Case, str]:
    """Create the case of a checked row; returns it and the row's outcome."""
    case = case_import(
        by=by, team=team, data=row.data, guardians=row.guardians, state=row.state,
        close_reason=row.close_reason, source=source, audit_detail=detail,
    )  # fmt: skip
    return case, "created"
