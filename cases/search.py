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

from cases.identity import family_skeleton, is_particle, name_words, skeleton

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
NAME = _("name")


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
    """One name word (or a whole name, joined) with its folded forms, computed once."""

    __slots__ = ("family_skeleton", "skeleton", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.skeleton = skeleton(text)
        self.family_skeleton = family_skeleton(text)


def _compare(word: str, word_skel: str, candidate: _Word) -> Level | None:
    other = candidate.text
    if word == other:
        return Level.EXACT
    if len(other) < MIN_PARTIAL or is_particle(other):
        return None  # "Al", "Li": only the same word matches them
    if len(word) >= MIN_PARTIAL and other.startswith(word):
        return Level.PREFIX
    if (
        len(word) >= MIN_PARTIAL
        and word_skel in (candidate.skeleton, candidate.family_skeleton)
        and fuzz.ratio(word, other) >= MIN_VARIANT_RATIO
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

    Names repeat across a team's cases, so every distinct name word is folded and compared
    once (``_levels``); a case then costs a few dictionary look-ups.
    """

    def __init__(self, query: Query) -> None:
        self.words = list(query.words)
        self.joined = "".join(self.words)
        self.skeletons = [skeleton(w) for w in self.words]
        self.joined_skeleton = family_skeleton(self.joined)
        self._parsed: dict[str, tuple[list[str], str]] = {}
        self._levels: dict[str, tuple[Level | None, ...]] = {}
        self._joined_levels: dict[str, Level | None] = {}

    def _split(self, name: str) -> tuple[list[str], str]:
        found = self._parsed.get(name)
        if found is None:
            words = name_words(name)
            found = self._parsed[name] = (words, "".join(words))
        return found

    def _word_levels(self, candidate: str) -> tuple[Level | None, ...]:
        levels = self._levels.get(candidate)
        if levels is None:
            word = _Word(candidate)
            levels = self._levels[candidate] = tuple(
                _compare(w, s, word) for w, s in zip(self.words, self.skeletons, strict=True)
            )
        return levels

    def _whole_level(self, candidate: str) -> Level | None:
        if candidate not in self._joined_levels:
            word = _Word(candidate)
            self._joined_levels[candidate] = _compare(self.joined, self.joined_skeleton, word)
        return self._joined_levels[candidate]

    def match(self, given: str, family: str) -> NameMatch | None:
        """How the query's name words match this child's names, or None."""
        if not self.words:
            return None
        given_words, given_joined = self._split(given or "")
        family_words, family_joined = self._split(family or "")
        found = self._token_match(given_words, given_joined, family_words, family_joined)
        if found is None and len(self.words) > 1:
            found = self._joined_match(given_joined, family_joined)
        if found is None:
            return None
        full = f"{' '.join(given_words)} {' '.join(family_words)}"
        found.score = (len(Level) - found.level) * 100 + fuzz.token_sort_ratio(
            " ".join(self.words), full
        )
        if found.swapped:
            found.score -= 50
        return found

    def _token_match(
        self, given_words: list[str], given_joined: str, family_words: list[str], family_joined: str
    ) -> NameMatch | None:
        # Every searched word must match a word of one of the names (in any order).
        best: list[tuple[Level, Promise] | None] = [None] * len(self.words)
        for part, candidates in (
            (GIVEN, [*given_words, given_joined]),
            (FAMILY, [*family_words, family_joined]),
        ):
            for candidate in candidates:
                if not candidate:
                    continue
                for i, level in enumerate(self._word_levels(candidate)):
                    if level is None:
                        continue
                    current = best[i]
                    if (
                        current is None
                        or level < current[0]
                        or (level == current[0] and part == (GIVEN if i == 0 else FAMILY))
                    ):
                        best[i] = (level, part)
        if any(b is None for b in best):
            return None
        found = [b for b in best if b is not None]
        parts = [p for _l, p in found]
        swapped = len(found) > 1 and parts[0] == FAMILY and GIVEN in parts[1:]
        reasons = [
            _reason(level, part, word)
            for (level, part), word in zip(found, self.words, strict=True)
        ]
        if swapped:
            reasons.append(str(capfirst(_("given and family name swapped"))))
        return NameMatch(level=max(level for level, _p in found), score=0.0,
                         reasons=_unique(reasons), swapped=swapped)  # fmt: skip

    def _joined_match(self, given_joined: str, family_joined: str) -> NameMatch | None:
        # "Abdul Rahman" for "Abdulrahman", "Al Hassan" for "Alhassan".
        for part, candidate in ((FAMILY, family_joined), (GIVEN, given_joined),
                                (NAME, given_joined + family_joined)):  # fmt: skip
            if candidate:
                level = self._whole_level(candidate)
                if level is not None:
                    reason = _reason(level, part, " ".join(self.words))
                    return NameMatch(level=level, score=0.0, reasons=[reason])
        return None


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
