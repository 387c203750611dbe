"""A child's identity as blind-index keys: the one place for normalisation, transliteration
folding, phonetic keys and the key formulas.

The same child reaches the office under several spellings: the passport's (ICAO Doc 9303,
English-based: Shevchenko, Kovalchuk), the German one (Duden: Schewtschenko, Kowaltschuk),
whatever a school typed, a dozen romanisations of an Arabic or Dari name, given and family
name swapped, particles written three ways, a birth date with day and month swapped or a
placeholder (01.01.) for an unknown day. Every key here is an HMAC blind index
(``coordination.crypto.blind_index``): equal inputs give equal keys, nothing can be read back.

How the keys are used (see ``docs/identity.md`` for the rules and the measured figures):

- ``skeleton(name)`` folds every spelling system onto one consonant skeleton;
- a case stores one key per way of matching (``case_keys``), each in its own indexed column;
- the intake asks for the keys of the typed identity (``lookup_keys``): a match is an OR of
  indexed equalities, and which key matched says the kind of match (``MatchKind``).

Changing a formula changes the keys: raise ``IDENTITY_VERSION`` so that
``manage.py refresh_identity_keys`` recomputes the stored ones.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

import cologne_phonetics
from anyascii import anyascii
from django.db import models
from django.utils.translation import gettext_lazy as _

from coordination.crypto import blind_index

# Raise when a formula below changes: rows with an older version get new keys from
# ``manage.py refresh_identity_keys`` (resumable, in batches).
IDENTITY_VERSION = 1


class MatchKind(models.TextChoices):
    """Why two records may be the same child, strongest first."""

    EXACT = "exact", _("same spelling")
    SPELLING = "spelling", _("different spelling")
    NAMES_SWAPPED = "names_swapped", _("given and family name swapped")
    DATE_SWAPPED = "date_swapped", _("day and month swapped (weaker hint)")
    YEAR_ONLY = "year_only", _("only the birth year matches, placeholder date (weak hint)")


# A swapped or placeholder date is a weaker hint: shown, never hidden.
WEAK_KINDS = frozenset({MatchKind.DATE_SWAPPED, MatchKind.YEAR_ONLY})
KIND_ORDER = {kind: rank for rank, kind in enumerate(MatchKind)}


# --- normalisation -----------------------------------------------------------------------

# German umlauts become two letters (Müller = Mueller); everything else is transliterated
# by anyascii (Cyrillic, Arabic, Turkish, ... to ASCII).
_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def normalise(value: str) -> str:
    """Case-folded, NFKC, transliterated to ASCII letters/digits, single spaces."""
    text = unicodedata.normalize("NFKC", value).casefold().translate(_GERMAN)
    text = anyascii(text).lower()
    text = re.sub(r"[^a-z0-9]+", " ", text)
    return " ".join(text.split())


def phonetic(value: str) -> str:
    """Kölner Phonetik of the normalised value, word breaks dropped (the first key, kept:
    it still matches a few German-style variants the skeleton folds differently)."""
    joined = normalise(value).replace(" ", "")
    if not joined:
        return ""
    return "".join(code for _word, code in cologne_phonetics.encode(joined) if code)


# --- transliteration folding ---------------------------------------------------------------

# Arabic articles and their assimilated forms (sun letters), written as a word of their own:
# "Al-Hassan", "El Masri", "Ar-Rashid". Dropped from family names only.
_PARTICLE_WORDS = frozenset({"al", "el", "ul", "il", "ar", "as", "ash", "at", "ad", "an", "az"})
# Written together ("Alhassan", "Elmasri"): only al/el before a consonant, and only when a
# name of at least three letters remains ("Alina" keeps its "al"; "Aldea" loses it, the same
# for every spelling of it, which is all a key needs).
_JOINED_ARTICLE = re.compile(r"^(?:al|el)(?=[^aeiouy][a-z]{2})")

# Ordered rewrites of spelling systems onto one form, applied to the joined lower-case ASCII
# name. Every line names the systems it reconciles; the labelled set in tests/data decides.
_FOLDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        # Arabic "Abd al-", "Abdul", "Abdel", "Abder-" (Abdulrahman = Abd al-Rahman).
        (r"abd[aeiou]l(?=[a-z])", "abd"),
        (r"abd[aeiou](?=([rsdtnz])\1)", "abd"),
        # зг: zgh (Ukrainian national 2010), zh (ICAO), sh (Duden s + h).
        (r"zgh", "zh"),
        # Ч: ICAO ch, Duden tsch (Tkachenko, Tkatschenko); Щ: shch, schtsch (via the two).
        (r"tsch", "ch"),
        (r"tch", "ch"),
        # ДЖ and Arabic ج: dzh (ICAO), dsch (Duden), dj (French), j (English).
        (r"dsch|dzh|dj", "j"),
        # Ш, Ж: sh (ICAO), zh (ICAO Ж), sch (Duden, both); Turkish ş, Romanian ș are s.
        (r"sch|zh|sh", "s"),
        # Cyrillic kha, Arabic kha: kh (ICAO, English), ch (Duden, German: Chaled); and Ч.
        (r"kh|ch", "h"),
        # Ц: ts (ICAO), z (Duden); German tz; ph, th, dh, gh, q, ck, c, x.
        (r"ts|tz", "z"),
        (r"ph", "f"),
        (r"th", "t"),
        (r"dh", "d"),
        (r"gh", "g"),
        (r"ck|q|c", "k"),
        # x: Albanian xh is dsch (Hoxha, Hodscha); a leading x is Kurdish kh (Xalid); else ks.
        (r"xh", "j"),
        (r"^x", "h"),
        (r"x", "ks"),
        # A final h after a vowel is silent (Fatimah, Aishah, Abdullah = Abdulla).
        (r"(?<=[aeiouy])h$", ""),
    )
)

# Letter classes after folding: v/w/f (Ivan, Iwan; Yusuf), d/t, b/p, g/k, s/z, h. m, n, l, r
# stay apart (Mohammed and Muhannad are different names).
_CLASSES = str.maketrans({"w": "f", "v": "f", "d": "t", "p": "b", "g": "k", "z": "s"})
# y and j count as vowels: Yulia = Julija = Iuliia (ICAO Doc 9303 writes Ю as IU), Andriy =
# Andrii = Andrij, Maryam = Mariam. The price: Jamal and Amal fold alike.
_VOWELS = frozenset("aeiouyj")


def _fold_word(text: str) -> str:
    for pattern, replacement in _FOLDS:
        text = pattern.sub(replacement, text)
    return text


def skeleton(value: str) -> str:
    """One name (given or family) folded onto its consonant skeleton.

    Word breaks are dropped (Al Hasan = Alhassan, Anna-Maria = Annamaria), the spelling
    systems are folded (``_FOLDS``), letters are mapped to classes, doubled letters collapse
    (Hassan = Hasan) and vowels go (vowel length and ee/i, oo/u, ou/u do not matter); a name
    starting with a vowel keeps one mark for it (Omar = Umar, but not Mar).
    """
    joined = normalise(value).replace(" ", "")
    if not joined:
        return ""
    text = _fold_word(joined).translate(_CLASSES)
    out: list[str] = []
    for letter in text:
        if letter in _VOWELS:
            letter = "_"  # a vowel: keeps doubled consonants around it apart
        if out and out[-1] == letter:
            continue
        out.append(letter)
    first = "a" if out[0] == "_" else ""
    return first + "".join(c for c in out if c != "_") or "a"


def name_words(value: str) -> list[str]:
    """The words of a name, normalised (``Al-Hassan`` → ``["al", "hassan"]``)."""
    return normalise(value).split()


def is_particle(word: str) -> bool:
    """An Arabic article written as a word of its own (al, el, ar, ...): not a name alone."""
    return word in _PARTICLE_WORDS


def family_skeleton(value: str) -> str:
    """The family name's skeleton without its Arabic article (Al-Hassan = Hassan)."""
    words = normalise(value).split()
    while len(words) > 1 and words[0] in _PARTICLE_WORDS:
        words = words[1:]
    joined = _JOINED_ARTICLE.sub("", "".join(words))
    return skeleton(joined)


# --- birth dates as refugees' papers have them ------------------------------------------


def is_placeholder(birth: dt.date) -> bool:
    """01.01. stands for an unknown day and month (Afghan documents use it, or 00.00., which
    the intake form takes as 01.01.): only the year is known."""
    return (birth.month, birth.day) == (1, 1)


def swapped(birth: dt.date) -> dt.date | None:
    """The date with day and month exchanged, when that is a different valid date."""
    if birth.day > 12 or birth.day == birth.month or is_placeholder(birth):
        return None
    return birth.replace(month=birth.day, day=birth.month)


# --- the keys ----------------------------------------------------------------------------


def _hmac(text: str, purpose: str) -> str:
    # ``text`` is already normalised (ASCII, lower case, single spaces): the primitive's own
    # light normalisation leaves it as it is.
    return blind_index(text, purpose=purpose)


def blind(value: str, *, purpose: str) -> str:
    """HMAC blind index over the normalised value (exact search: name, family, birth)."""
    return _hmac(normalise(value), purpose)


def _either_order(given: str, family: str) -> str:
    # The swap key folds both parts the same way (as family names, without articles).
    return "|".join(sorted((family_skeleton(given), family_skeleton(family))))


def _ordered(given: str, family: str, birth: dt.date) -> str:
    names = f"{skeleton(given)}|{family_skeleton(family)}"
    return _hmac(f"{names}|{birth.isoformat()}", "identity-ordered")


def _sorted(given: str, family: str, birth: dt.date) -> str:
    return _hmac(f"{_either_order(given, family)}|{birth.isoformat()}", "identity-sorted")


def _year(given: str, family: str, birth: dt.date) -> str:
    return _hmac(f"{_either_order(given, family)}|{birth.year}", "identity-year")


def case_keys(given: str, family: str, birth: dt.date | None) -> dict[str, str | None]:
    """Every blind-index column of a case, by column name (None where a part is missing)."""
    given, family = given or "", family or ""
    iso = birth.isoformat() if birth else ""
    keys: dict[str, str | None] = dict.fromkeys(KEY_COLUMNS)
    if family:
        keys["bidx_name"] = blind(f"{given} {family}", purpose="name")
        keys["bidx_family"] = blind(family, purpose="family")
        keys["bidx_family_phonetic"] = _hmac(phonetic(family), "family-phonetic")
        keys["bidx_family_skeleton"] = _hmac(family_skeleton(family), "family-skeleton")
    if birth:
        keys["bidx_birth"] = blind(iso, purpose="birth")
    if family and birth:
        keys["bidx_identity"] = blind(f"{given} {family} {iso}", purpose="identity")
        keys["bidx_phonetic"] = _hmac(f"{phonetic(given)}|{phonetic(family)}|{iso}", "phonetic")
        keys["bidx_id_ordered"] = _ordered(given, family, birth)
        keys["bidx_id_sorted"] = _sorted(given, family, birth)
        other = swapped(birth)
        keys["bidx_id_swapped"] = _sorted(given, family, other) if other else None
        keys["bidx_id_year"] = _year(given, family, birth)
        keys["bidx_id_vague"] = keys["bidx_id_year"] if is_placeholder(birth) else None
    return keys


KEY_COLUMNS = (
    "bidx_name", "bidx_family", "bidx_birth", "bidx_identity", "bidx_phonetic",
    "bidx_family_phonetic", "bidx_family_skeleton", "bidx_id_ordered", "bidx_id_sorted",
    "bidx_id_swapped", "bidx_id_year", "bidx_id_vague",
)  # fmt: skip


def lookup_keys(given: str, family: str, birth: dt.date) -> list[tuple[str, str, MatchKind]]:
    """The (column, key, kind) equalities that find a typed identity, strongest first.

    A typed placeholder date (01.01.) finds every case of that year with those names, and
    every match on it is a weak one; a real date finds the cases stored with a placeholder of
    its year (``bidx_id_vague``).
    """
    year = _year(given, family, birth)
    if is_placeholder(birth):
        return [("bidx_id_year", year, MatchKind.YEAR_ONLY)]
    keys = case_keys(given, family, birth)
    out: list[tuple[str, str, MatchKind]] = [
        ("bidx_identity", keys["bidx_identity"] or "", MatchKind.EXACT),
        ("bidx_id_ordered", keys["bidx_id_ordered"] or "", MatchKind.SPELLING),
        ("bidx_phonetic", keys["bidx_phonetic"] or "", MatchKind.SPELLING),
        ("bidx_id_sorted", keys["bidx_id_sorted"] or "", MatchKind.NAMES_SWAPPED),
    ]
    if keys["bidx_id_swapped"]:
        out.append(("bidx_id_sorted", keys["bidx_id_swapped"], MatchKind.DATE_SWAPPED))
    out.append(("bidx_id_vague", year, MatchKind.YEAR_ONLY))
    return out


def family_lookup_keys(family: str) -> list[tuple[str, str]]:
    """Possible siblings: a family name that sounds the same or folds the same."""
    return [
        ("bidx_family_phonetic", _hmac(phonetic(family), "family-phonetic")),
        ("bidx_family_skeleton", _hmac(family_skeleton(family), "family-skeleton")),
    ]


def search_keys(*, name: str = "", birth: dt.date | None = None) -> dict[str, str]:
    """Exact-search keys of the case list (full name, family name, birth date)."""
    out: dict[str, str] = {}
    if name:
        out["bidx_name"] = blind(name, purpose="name")
        out["bidx_family"] = blind(name, purpose="family")
    if birth:
        out["bidx_birth"] = blind(birth.isoformat(), purpose="birth")
    if name and birth:
        out["bidx_identity"] = blind(f"{name} {birth.isoformat()}", purpose="identity")
    return out


# The pairs the duplicate report looks for: a key column of one case equal to a key column
# of another, with the kind of match this means (no decryption: keys only).
REPORT_JOINS: tuple[tuple[str, str, MatchKind], ...] = (
    ("bidx_identity", "bidx_identity", MatchKind.EXACT),
    ("bidx_id_ordered", "bidx_id_ordered", MatchKind.SPELLING),
    ("bidx_phonetic", "bidx_phonetic", MatchKind.SPELLING),
    ("bidx_id_sorted", "bidx_id_sorted", MatchKind.NAMES_SWAPPED),
    ("bidx_id_swapped", "bidx_id_sorted", MatchKind.DATE_SWAPPED),
    ("bidx_id_vague", "bidx_id_year", MatchKind.YEAR_ONLY),
)


def match_would_flag(
    a: tuple[str, str, dt.date | None], b: tuple[str, str, dt.date | None]
) -> MatchKind | None:
    """Whether the intake would warn about ``b`` when ``a`` is typed (the benchmark's and
    the tests' question, answered with the same keys the database holds)."""
    given, family, birth = a
    if not family or birth is None:
        return None
    stored = case_keys(*b)
    for column, key, kind in lookup_keys(given, family, birth):
        if key and stored.get(column) == key:
            return kind
    return None
