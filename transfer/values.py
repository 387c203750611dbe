"""Values as an office writes them: ``14.3.2017``, ``14.03.17``, an Excel serial number,
"ca. 2015"; grades as "3", "3.", "Klasse 3", "3a"; yes/no as "ja", "x", "vorhanden"; and the
office's words for targets, states, statuses. Each parser returns the stored value or raises
``BadValue`` with a plain message; nothing unknown is ever replaced by a default.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.identity import normalise
from cases.models import (
    CloseReason,
    Gender,
    GermanLevel,
    Group,
    Guardian,
    ResidenceStatus,
    State,
    TargetType,
)

EXCEL_EPOCH = dt.date(1899, 12, 30)


class BadValue(ValueError):
    def __init__(self, message: Any) -> None:
        self.message = message
        super().__init__(str(message))


def text(value: Any) -> str:
    """A cell as text: numbers without a trailing ".0", whitespace collapsed."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.strftime("%d.%m.%Y")
    return " ".join(str(value).split())


def key(value: Any) -> str:
    """The comparison form of an office's word: lower case, umlauts spelt out, no dots."""
    return normalise(text(value))


# --- dates -------------------------------------------------------------------------------

_GERMAN_DATE = re.compile(r"^(\d{1,2})\.\s*(\d{1,2})\.\s*(\d{2}|\d{4})$")
_SLASH_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T].*)?$")
_YEAR_ONLY = re.compile(
    r"^(?:ca\.?|circa|etwa|um|~|geschätzt|approx\.?)?\s*((?:19|20)\d{2})$", re.I
)


def parse_date(value: Any, *, year_only: bool = False) -> tuple[dt.date | None, bool]:
    """(date, estimated): ``estimated`` when only a year was given (``year_only`` allowed)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, False
    if isinstance(value, dt.datetime):
        return value.date(), False
    if isinstance(value, dt.date):
        return value, False
    if isinstance(value, int | float) and not isinstance(value, bool):
        if year_only and 1900 <= value <= 2100 and float(value).is_integer():
            return dt.date(int(value), 1, 1), True
        if 1 <= value < 80_000:  # an Excel serial day number
            return EXCEL_EPOCH + dt.timedelta(days=int(value)), False
        raise BadValue(_("This is not a date."))
    raw = text(value)
    match = _GERMAN_DATE.match(raw)
    if match:
        day, month, year = (int(g) for g in match.groups())
        if len(match.group(3)) == 2:
            # Two-digit years: up to this year's two digits is this century.
            this = timezone.localdate().year
            year += 2000 if year <= this % 100 else 1900
        return _date(year, month, day), False
    match = _ISO_DATE.match(raw)
    if match:
        year, month, day = (int(g) for g in match.groups())
        return _date(year, month, day), False
    match = _SLASH_DATE.match(raw)
    if match:
        day, month, year = (int(g) for g in match.groups())
        return _date(year, month, day), False
    match = _YEAR_ONLY.match(raw)
    if match and year_only:
        return dt.date(int(match.group(1)), 1, 1), True
    if raw.isdigit() and 1 <= int(raw) < 80_000 and not match:
        return EXCEL_EPOCH + dt.timedelta(days=int(raw)), False
    raise BadValue(_("“%(value)s” is not a date (write e.g. 14.03.2017).") % {"value": raw[:40]})


def _date(year: int, month: int, day: int) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise BadValue(_("This date does not exist.")) from None


# --- words -------------------------------------------------------------------------------


def _words(table: dict[str, list[str]]) -> dict[str, str]:
    return {normalise(word): value for value, words in table.items() for word in words}


TARGETS = _words({
    TargetType.SCHOOL: ["school", "schule", "grundschule", "gs", "weiterfuehrende schule",
                        "weiterführende schule", "realschule", "realschule plus", "rs+", "igs",
                        "gesamtschule", "gymnasium", "foerderschule", "förderschule", "sek i",
                        "sek 1", "schulplatz"],
    TargetType.KITA: ["kita", "kindergarten", "krippe", "kindertagesstaette", "kindertagesstätte",
                      "kita platz", "kitaplatz", "daycare", "kiga", "u3", "ue3", "ü3"],
    TargetType.VOCATIONAL: ["vocational", "bbs", "berufsschule", "berufsbildende schule", "bvj",
                            "bvj s", "berufsvorbereitung", "ausbildung"],
})  # fmt: skip

GROUPS_WORDS = _words({
    Group.KITA_U3: ["u3", "unter 3", "krippe", "kita u3", "krippenplatz"],
    Group.KITA_3: ["ue3", "ü3", "ab 3", "kita ue3", "kita ü3", "kindergarten", "3 6"],
    Group.BVJ: ["bvj", "bvj s", "bvjs"],
    Group.VOCATIONAL: ["bbs", "berufsschule", "bbs sonstige", "ausbildung"],
})  # fmt: skip
_GRADE = re.compile(
    r"^(?:klasse|kl|jahrgang|jahrgangsstufe|jg|stufe|grade|year)?\s*(\d{1,2})\s*"
    r"(?:\.|te|ter)?\s*(?:klasse|kl|jg|schuljahr)?\s*[a-z]?$"
)


def parse_group(value: Any) -> str:
    raw = key(value)
    if not raw:
        return ""
    if raw in GROUPS_WORDS:
        return GROUPS_WORDS[raw]
    # "3", "3.", "Klasse 3", "3a", "3. Klasse", "Kl. 3" (normalise turned dots into spaces)
    match = _GRADE.match(raw)
    if match:
        grade = int(match.group(1))
        if 1 <= grade <= 13:
            return f"g{grade:02d}"
    raise BadValue(
        _("“%(value)s” is not a grade or age group (write e.g. 3, Klasse 3, U3, BVJ).")
        % {"value": text(value)[:40]}
    )


def group_target(group: str) -> str:
    """The target a grade or age group belongs to."""
    if group in (Group.KITA_U3, Group.KITA_3):
        return TargetType.KITA
    if group in (Group.BVJ, Group.VOCATIONAL):
        return TargetType.VOCATIONAL
    return TargetType.SCHOOL


# State words -> (state, close reason). Open referrals cannot come in (the referral has to be
# made again in Ankommen): "vermittelt" is therefore unknown, and named in the error.
STATES: dict[str, tuple[str, str]] = {
    normalise(word): value
    for value, words in {
        (State.INTAKE, ""): ["intake", "neu", "offen", "erstgespraech", "erstgespräch", "aufnahme",
                             "erfasst", "new", "open"],
        (State.CLARIFICATION, ""): ["clarification", "in klaerung", "in klärung", "klaerung",
                                    "klärung", "zu klaeren", "zu klären", "in bearbeitung"],
        (State.READY, ""): ["ready", "sucht platz", "platzsuche", "bereit", "wartet",
                            "wartet auf platz", "warteliste", "looking for a place"],
        (State.ON_HOLD, ""): ["on hold", "ruht", "ruhend", "pausiert", "zurueckgestellt",
                              "zurückgestellt"],
        (State.CLOSED, CloseReason.DONE): ["versorgt", "beschult", "platziert", "aufgenommen",
                                           "erledigt", "done", "placed"],
        (State.CLOSED, CloseReason.MOVED_AWAY): ["weggezogen", "verzogen", "umgezogen",
                                                 "moved away"],
        (State.CLOSED, CloseReason.WITHDRAWN): ["zurueckgezogen", "zurückgezogen",
                                                "abgemeldet", "withdrawn"],
        (State.CLOSED, CloseReason.AGED_OUT): ["zu alt", "aged out", "volljaehrig",
                                               "volljährig"],
        (State.CLOSED, CloseReason.OTHER): ["abgeschlossen", "geschlossen", "closed"],
    }.items()
    for word in words
}  # fmt: skip

GENDERS = _words({
    Gender.FEMALE: ["w", "weiblich", "f", "female", "maedchen", "mädchen", "frau"],
    Gender.MALE: ["m", "maennlich", "männlich", "male", "junge", "j", "mann"],
    Gender.DIVERSE: ["d", "divers", "diverse"],
    Gender.UNKNOWN: ["x", "k a", "keine angabe", "unbekannt", "not stated", "o a", "ohne angabe"],
})  # fmt: skip

GERMAN_LEVELS = _words({
    GermanLevel.NONE: ["keine", "kein", "none", "0", "null", "keine kenntnisse", "nein"],
    GermanLevel.A1: ["a1", "a 1", "anfaenger", "anfänger", "wenig"],
    GermanLevel.A2: ["a2", "a 2", "grundkenntnisse"],
    GermanLevel.B1: ["b1", "b 1", "gut"],
    GermanLevel.B2: ["b2", "b 2", "c1", "c2", "sehr gut", "fliessend", "fließend",
                     "muttersprache"],
})  # fmt: skip

RESIDENCE = _words({
    ResidenceStatus.ASYLUM_SEEKER: ["asylum seeker", "gestattung", "aufenthaltsgestattung",
                                    "asyl", "asylbewerber", "asylverfahren", "bued", "büma"],
    ResidenceStatus.TEMPORARY_PROTECTION: ["24", "§ 24", "§24", "par 24", "24 aufenthg",
                                           "§ 24 aufenthg", "ukraine",
                                           "voruebergehender schutz",
                                           "vorübergehender schutz", "temporary protection"],
    ResidenceStatus.RECOGNISED: ["anerkannt", "fluechtling", "flüchtling", "asylberechtigt",
                                 "subsidiaer", "subsidiär", "subsidiaerer schutz",
                                 "flüchtlingsschutz", "recognised"],
    ResidenceStatus.TOLERATED: ["duldung", "geduldet", "tolerated"],
    ResidenceStatus.EU_CITIZEN: ["eu", "eu buerger", "eu bürger", "freizuegigkeit",
                                 "freizügigkeit", "eu citizen"],
    ResidenceStatus.OTHER_PERMIT: ["aufenthaltserlaubnis", "niederlassungserlaubnis",
                                   "visum", "sonstige", "other permit"],
    ResidenceStatus.UNKNOWN: ["unbekannt", "ungeklaert", "ungeklärt", "unknown", "offen"],
})  # fmt: skip

RELATIONS = _words({
    Guardian.Relation.MOTHER: ["mutter", "mother", "mama", "m"],
    Guardian.Relation.FATHER: ["vater", "father", "papa", "v"],
    Guardian.Relation.GUARDIAN: ["vormund", "vormundschaft", "guardian", "legal guardian",
                                 "jugendamt", "betreuer", "betreuerin"],
    Guardian.Relation.RELATIVE: ["verwandte", "verwandter", "onkel", "tante", "oma", "opa",
                                 "grossmutter", "großmutter", "grossvater", "großvater",
                                 "bruder", "schwester", "relative"],
    Guardian.Relation.OTHER: ["andere", "sonstige", "other", "eltern", "parents"],
})  # fmt: skip

YES = {normalise(w) for w in ["ja", "j", "yes", "y", "x", "1", "true", "wahr", "vorhanden",
                              "liegt vor", "ok", "erledigt"]}  # fmt: skip
NO = {normalise(w) for w in ["nein", "n", "no", "0", "false", "falsch", "fehlt", "nicht vorhanden",
                             "liegt nicht vor", "keine", "kein"]}  # fmt: skip
YES_SIGNS, NO_SIGNS = {"✓", "✔", "☑"}, {"-", "\u2013", "✗", "✘"}


def parse_word(value: Any, words: dict[str, Any], what: Any) -> Any:
    raw = key(value)
    if not raw:
        return ""
    if raw in words:
        return words[raw]
    raise BadValue(
        _("“%(value)s” is not one of the known values for “%(what)s”.")
        % {"value": text(value)[:40], "what": what}
    )


def parse_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    raw, shown = key(value), text(value)
    if shown in {"", "?"}:
        return None
    if shown in YES_SIGNS or (raw and raw in YES):
        return True
    if shown in NO_SIGNS or (raw and raw in NO):
        return False
    if raw in {"unbekannt", "k a", "unknown", "offen"}:
        return None
    raise BadValue(_("“%(value)s” is neither yes nor no.") % {"value": text(value)[:40]})


def parse_int(value: Any) -> int | None:
    if value is None or text(value) == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer():
        return int(value)
    match = re.match(r"^(\d{1,3})(?:\s*(?:jahre?|j\.?|years?))?$", text(value).lower())
    if match:
        return int(match.group(1))
    raise BadValue(_("“%(value)s” is not a whole number.") % {"value": text(value)[:40]})
