"""The case list's search: what a query asks for, and how well a child's name answers it.

Names are encrypted, so a name search cannot ask the database for "names like Kowalenko".
``cases.selectors.cases_search`` loads the names of the cases the user may see (a team holds
hundreds to a few thousand), decrypts them in one pass, and this module ranks them in memory
with the folding of ``cases/identity.py`` (the one normaliser) and rapidfuzz. Nothing here is
stored: no plaintext and no new searchable form of a name reaches the database or a log.
Reference, birth date and birth year are indexed lookups (``parse_query`` tells them apart).

See ``docs/search.md`` and ``docs/adr/0015-search-in-memory-over-visible-cases.md``.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from django.utils.functional import Promise
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA

from cases.identity import family_skeleton, is_particle, name_words, normalise, skeleton

# A prefix or a spelling variant needs this many letters; shorter words match only exactly.
MIN_PARTIAL = 3
# A one-letter typo is looked for in words of at least this length ("Ali"/"Ala" are names).
MIN_TYPO = 4
# Two spellings with one skeleton must also look alike: skeletons are coarse ("Ali" and
# "Ola" share one), so a variant needs this rapidfuzz ratio (0-100) of the two words.
MIN_VARIANT_RATIO = 60
# Birth years a four-digit number may stand for.
OLDEST_YEAR = 1990


class Level(IntEnum):
    """How well one searched word matches a name, strongest first."""

    EXACT = 0
    PREFIX = 1
    SPELLING = 2
    TYPO = 3


GIVEN = _("given name")
FAMILY = _("family name")


def _reason(level: Level, part: Promise, word: str) -> str:
    text = {
        Level.EXACT: _("%(part)s matches"),
        Level.PREFIX: _("%(part)s starts with “%(word)s”"),
        Level.SPELLING: _("%(part)s spelled differently"),
        Level.TYPO: _("%(part)s differs by one letter"),
    }[level]
    return str(capfirst(str(text) % {"part": part, "word": word}))


# --- the query --------------------------------------------------------------------------

_GERMAN_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
# NZ-2026-00045, 2026-45, NZ-45, 00045, 45 (the prefix is configurable: any letters).
_REFERENCE = re.compile(r"^(?:[a-z]{1,8}-)?(?:(\d{4})-)?(\d{1,7})$", re.IGNORECASE)


@dataclass(frozen=True)
class Reference:
    number: int
    year: int | None = None

    def suffix(self) -> str:
        """The end of every reference with this number (``-00045``; ``-2026-00045``)."""
        number = f"{self.number:05d}"
        return f"-{self.year}-{number}" if self.year else f"-{number}"


@dataclass(frozen=True)
class Query:
    """A search as typed, taken apart. ``words`` are normalised name words."""

    words: tuple[str, ...] = ()
    birth: dt.date | None = None
    year: int | None = None
    reference: Reference | None = None
    invalid_date: bool = False

    @property
    def is_empty(self) -> bool:
        return not (self.words or self.birth or self.year or self.reference)


def _date(token: str) -> dt.date | bool | None:
    """A birth date, None if ``token`` is no date, False if it looks like one but is not."""
    german = _GERMAN_DATE.match(token)
    iso = _ISO_DATE.match(token)
    if not (german or iso):
        return None
    day, month, year = german.groups() if german else reversed(iso.groups())  # type: ignore[union-attr]
    try:
        return dt.date(int(year), int(month), int(day))
    except ValueError:
        return False


def parse_query(text: str, *, today: dt.date | None = None) -> Query:
    """Split a query into name words, a birth date, a birth year and a reference.

    A lone number is a reference; one that could be a birth year (four digits, not in the
    future) is both. Numbers next to a name are a birth year or ignored.
    """
    today = today or dt.date.today()
    tokens = text.replace(",", " ").split()
    words: list[str] = []
    birth: dt.date | None = None
    year: int | None = None
    references: list[Reference] = []
    invalid = False
    for token in tokens:
        date = _date(token)
        if date is False:
            invalid = True
            continue
        if isinstance(date, dt.date):
            birth = date
            continue
        ref = _REFERENCE.match(token)
        if ref and (ref.group(1) or token[0].isdigit() or "-" in token):
            number = int(ref.group(2))
            if token.isdigit() and len(token) == 4 and OLDEST_YEAR <= number <= today.year:
                year = number
            if number:
                references.append(Reference(number, int(ref.group(1)) if ref.group(1) else None))
            continue
        words.extend(name_words(token))
    # Articles (al, el, ...) count only next to another word: "Al-Kha" searches "kha".
    named = [w for w in words if not is_particle(w)] or ["".join(words)] * bool(words)
    alone = not words and birth is None
    return Query(
        words=tuple(named),
        birth=birth,
        # A four-digit number narrows a name search to a birth year; a full date wins.
        year=year if birth is None else None,
        reference=references[0] if alone and len(references) == 1 else None,
        invalid_date=invalid,
    )


# --- ranking names ------------------------------------------------------------------------


@dataclass
class NameMatch:
    level: Level
    score: float
    reasons: list[str] = field(default_factory=list)
    swapped: bool = False


class _Word:
    """One name word (or a whole name, joined); its folded forms are computed only when a
    cheap test has not already decided (most words of a team are not alike at all)."""

    __slots__ = ("_skeletons", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._skeletons: tuple[str, str] | None = None

    def skeletons(self) -> tuple[str, str]:
        if self._skeletons is None:
            self._skeletons = (skeleton(self.text), family_skeleton(self.text))
        return self._skeletons


def _compare(word: str, word_skel: str, candidate: _Word) -> Level | None:
    other = candidate.text
    if word == other:
        return Level.EXACT
    if len(other) < MIN_PARTIAL or is_particle(other):
        return None  # "Al", "Li": only the same word matches them
    if len(word) >= MIN_PARTIAL and other.startswith(word):
        return Level.PREFIX
    # rapidfuzz's ratio first: it is fast and rules out nearly every word; the skeletons
    # (a dozen regular expressions) are folded only for the few that look alike.
    if (
        len(word) >= MIN_PARTIAL
        and fuzz.ratio(word, other, score_cutoff=MIN_VARIANT_RATIO)
        and word_skel in candidate.skeletons()
    ):
        return Level.SPELLING
    if (
        len(word) >= MIN_TYPO
        and abs(len(word) - len(other)) <= 1
        and OSA.distance(word, other, score_cutoff=1) <= 1
    ):
        return Level.TYPO
    return None


class NameRanker:
    """Ranks many (given, family) pairs against one query's name words.

    Names repeat across a team's cases, so every distinct name is split, folded and
    compared once (``_part_levels``); a case then costs two dictionary look-ups, and only
    the few that match get a score and a reason.
    """

    def __init__(self, query: Query) -> None:
        self.words = list(query.words)
        self.joined = "".join(self.words)
        self.skeletons = [skeleton(w) for w in self.words]
        self.joined_skeleton = family_skeleton(self.joined)
        self._levels: dict[str, tuple[Level | None, ...]] = {}
        self._parts: dict[str, tuple[tuple[Level | None, ...], Level | None]] = {}

    def _word_levels(self, candidate: str) -> tuple[Level | None, ...]:
        levels = self._levels.get(candidate)
        if levels is None:
            word = _Word(candidate)
            levels = self._levels[candidate] = tuple(
                _compare(w, s, word) for w, s in zip(self.words, self.skeletons, strict=True)
            )
        return levels

    def _part_levels(self, name: str) -> tuple[tuple[Level | None, ...], Level | None]:
        """For one given or family name: the best level of each searched word among its
        words (and the name written together), and the level of the whole query written
        together ("Abdul Rahman" for "Abdulrahman")."""
        found = self._parts.get(name)
        if found is None:
            words = name_words(name)
            joined = "".join(words)
            best: list[Level | None] = [None] * len(self.words)
            for candidate in {*words, joined} - {""}:
                for i, level in enumerate(self._word_levels(candidate)):
                    if level is not None and (best[i] is None or level < best[i]):  # type: ignore[operator]
                        best[i] = level
            whole = None
            if len(self.words) > 1 and joined:
                whole = _compare(self.joined, self.joined_skeleton, _Word(joined))
            found = self._parts[name] = (tuple(best), whole)
        return found

    def match(self, given: str, family: str) -> NameMatch | None:
        """How the query's name words match this child's names, or None."""
        if not self.words:
            return None
        given_levels, given_whole = self._part_levels(given)
        family_levels, family_whole = self._part_levels(family)
        # Every searched word must match a word of one of the names, in any order.
        best: list[tuple[Level, Promise]] = []
        for i, (g, f) in enumerate(zip(given_levels, family_levels, strict=True)):
            if g is None and f is None:
                break
            natural = GIVEN if i == 0 else FAMILY  # on a tie: the usual order
            if f is None or (g is not None and (g < f or (g == f and natural == GIVEN))):
                best.append((g, GIVEN))  # type: ignore[arg-type]
            else:
                best.append((f, FAMILY))
        if len(best) == len(self.words):
            found = self._explain(best)
        elif family_whole is not None or given_whole is not None:
            part, level = (
                (FAMILY, family_whole) if family_whole is not None else (GIVEN, given_whole)
            )
            found = NameMatch(level=level, score=0.0,  # type: ignore[arg-type]
                              reasons=[_reason(level, part, " ".join(self.words))])  # type: ignore[arg-type]  # fmt: skip
        else:
            return None
        full = f"{normalise(given)} {normalise(family)}"
        found.score = (len(Level) - found.level) * 100 + fuzz.token_sort_ratio(
            " ".join(self.words), full
        )
        if found.swapped:
            found.score -= 50
        return found

    def _explain(self, best: list[tuple[Level, Promise]]) -> NameMatch:
        parts = [part for _level, part in best]
        swapped = len(best) > 1 and parts[0] == FAMILY and GIVEN in parts[1:]
        reasons = [
            _reason(level, part, word) for (level, part), word in zip(best, self.words, strict=True)
        ]
        if swapped:
            reasons.append(str(capfirst(_("given and family name swapped"))))
        level = max(level for level, _part in best)
        return NameMatch(level=level, score=0.0, reasons=_unique(reasons), swapped=swapped)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


# --- the search term between requests ------------------------------------------------------

# A search result's paging and filter links carry a random token, never the term: the term
# waits in the session, encrypted (sessions are rows in the database), for this long.
SESSION_KEY = "case-searches"
KEEP_SECONDS = 30 * 60
KEEP_SEARCHES = 5
_CONTEXT = "session.case-search"


def remember_search(session: Any, query: str) -> str:
    """Keep ``query`` in the session (encrypted) and return the token that names it."""
    from coordination.crypto import get_keyring

    now = time.time()
    stored = {
        token: entry
        for token, entry in (session.get(SESSION_KEY) or {}).items()
        if now - entry.get("at", 0) < KEEP_SECONDS
    }
    token = secrets.token_urlsafe(12)
    sealed = get_keyring().encrypt(query.encode(), context=_CONTEXT)
    stored[token] = {"q": base64.b64encode(sealed).decode(), "at": now}
    newest = sorted(stored.items(), key=lambda item: item[1]["at"])[-KEEP_SEARCHES:]
    session[SESSION_KEY] = dict(newest)
    return token


def recall_search(session: Any, token: str) -> str | None:
    """The query a token names, or None when it is unknown or expired."""
    from coordination.crypto import DecryptionError, get_keyring

    entry = (session.get(SESSION_KEY) or {}).get(token)
    if not entry or time.time() - entry.get("at", 0) >= KEEP_SECONDS:
        return None
    try:
        sealed = base64.b64decode(entry["q"])
        return get_keyring().decrypt(sealed, context=_CONTEXT).decode()
    except (DecryptionError, ValueError, KeyError):
        return None  # a rotated key or an old session: search again
