"""Every visible string is translatable, German is complete, the catalogs are current.

- Templates: visible text outside ``{% translate %}``/``{% blocktranslate %}`` fails the test.
- ``locale/de``: every msgid has a German msgstr, nothing is fuzzy, placeholders match, and
  the committed ``.mo`` says the same as the ``.po`` (machines without msgfmt use it).
- ``locale/en``: English msgids are the English text, so an empty msgstr is complete; the
  catalog must hold the same msgids as German.
- Staleness: ``makemessages`` into a temporary directory finds exactly the committed msgids.
- Dates and numbers follow the user's language.

Update the catalogs as the README says ("Interface, languages and browser tests").
"""

from __future__ import annotations

import datetime as dt
import gettext
import os
import re
import shutil
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.core.management import call_command
from django.template import Context, Template
from django.test import override_settings
from django.utils import translation

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates"
LOCALE = ROOT / "locale"
# The same ignores as the README's makemessages command.
MAKEMESSAGES_IGNORE = [".venv", "node_modules", "tests", "staticfiles", "var", "locale"]

# Text that is the same in every language: the product's and the design system's names,
# language names written in their own language (the language switch), CEFR levels, units.
ALLOWED_TEXT = {
    "Ankommen",
    "KERN",
    "KERN UX",
    "Deutsch",
    "English",
    "A1",
    "A2",
    "B1",
    "B2",
    "C1",
    "C2",
    "CSV",
    "JSON",
    "ZIP",
    "XLSX",
    "PDF",
    "TOTP",
    "htmx",
}
# Attributes a person reads or hears.
TEXT_ATTRIBUTES = {"alt", "title", "placeholder", "aria-label", "aria-description", "data-confirm"}
# <input type=... value="..."> whose value is a visible label.
BUTTON_INPUTS = {"submit", "button", "reset"}


# --- a tiny .po reader (no dependency) --------------------------------------------------


@dataclass
class PoEntry:
    msgid: str
    msgid_plural: str = ""
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    line: int = 0

    @property
    def key(self) -> tuple[str | None, str]:
        return (self.msgctxt, self.msgid)

    @property
    def translated(self) -> bool:
        return bool(self.msgstr) and all(self.msgstr.values())


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "a": "\a", "b": "\b"}


def _unquote(text: str) -> str:
    text = text.strip()
    if not (text.startswith('"') and text.endswith('"')):
        raise ValueError(f"not a quoted .po string: {text!r}")
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text[1:-1])


def read_po(path: Path) -> list[PoEntry]:
    """The entries of a .po file (obsolete ``#~`` entries and the header left out)."""
    entries: list[PoEntry] = []
    current: PoEntry | None = None
    flags: set[str] = set()
    target: tuple[str, int] | None = None
    start = 0

    def finish() -> None:
        nonlocal current
        if current is not None and current.msgid != "":
            entries.append(current)
        current = None

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#~"):
            if not line:
                finish()
                target = None
            continue
        if line.startswith("#,"):
            finish()
            flags = {f.strip() for f in line[2:].split(",")}
            start = number
            continue
        if line.startswith("#"):
            if current is not None and target is not None:
                finish()
            start = start or number
            continue
        keyword, _, rest = line.partition(" ")
        if line.startswith('"'):
            if current is None or target is None:
                raise ValueError(f"{path}:{number}: continuation without a keyword")
            name, index = target
            if name == "msgstr":
                current.msgstr[index] += _unquote(line)
            else:
                setattr(current, name, getattr(current, name) + _unquote(line))
            continue
        if keyword in {"msgctxt", "msgid"} and current is not None and current.msgstr:
            finish()
        if current is None:
            current = PoEntry(msgid="", flags=flags, line=start or number)
            flags, start = set(), 0
        if keyword in {"msgctxt", "msgid", "msgid_plural"}:
            setattr(current, keyword, _unquote(rest))
            target = (keyword, 0)
        elif keyword == "msgstr":
            current.msgstr[0] = _unquote(rest)
            target = ("msgstr", 0)
        elif m := re.fullmatch(r"msgstr\[(\d+)\]", keyword):
            current.msgstr[int(m.group(1))] = _unquote(rest)
            target = ("msgstr", int(m.group(1)))
        else:
            raise ValueError(f"{path}:{number}: unknown line {raw!r}")
    finish()
    return entries


_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{(\w*)\}")


def placeholders(text: str) -> set[str]:
    return {a or b for a, b in _PLACEHOLDER.findall(text)}


def _po(language: str) -> Path:
    return LOCALE / language / "LC_MESSAGES" / "django.po"


# --- templates: visible text must be marked for translation ---------------------------

_TEMPLATE_BLOCKS = [
    re.compile(r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}", re.S),
    re.compile(r"{%\s*blocktrans(?:late)?\b.*?{%\s*endblocktrans(?:late)?\s*%}", re.S),
    re.compile(r"{#.*?#}", re.S),
    re.compile(r"{%.*?%}", re.S),
    re.compile(r"{{.*?}}", re.S),
]


def _strip_template(source: str) -> str:
    """Template constructs removed; newlines kept so that line numbers still match."""
    for pattern in _TEMPLATE_BLOCKS:
        source = pattern.sub(lambda m: "\n" * m.group(0).count("\n"), source)
    return source


def _is_text(text: str) -> bool:
    text = " ".join(text.split())
    if not text or text in ALLOWED_TEXT:
        return False
    return bool(re.search(r"[^\W\d_]{2,}", text))  # a word, not a symbol or "3 %"


class _TextFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style"}:
            self.skip += 1
        for name, value in attrs:
            shown = name in TEXT_ATTRIBUTES or (
                tag == "input" and name == "value" and dict(attrs).get("type") in BUTTON_INPUTS
            )
            if value and shown and _is_text(value):
                self.found.append((self.getpos()[0], f'{name}="{value}"'))

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"} and self.skip:
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip and _is_text(data):
            self.found.append((self.getpos()[0], " ".join(data.split())))


def untranslated_template_text(path: Path) -> list[str]:
    source = _strip_template(path.read_text(encoding="utf-8"))
    name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    if path.suffix == ".txt":
        return [
            f"{name}:{number}: {' '.join(line.split())!r}"
            for number, line in enumerate(source.splitlines(), 1)
            if _is_text(line)
        ]
    finder = _TextFinder()
    finder.feed(source)
    finder.close()
    return [f"{name}:{number}: {text!r}" for number, text in finder.found]


def test_every_template_string_is_marked_for_translation() -> None:
    templates = sorted([*TEMPLATES.rglob("*.html"), *TEMPLATES.rglob("*.txt")])
    assert templates, "no templates found"
    problems = [line for path in templates for line in untranslated_template_text(path)]
    assert not problems, (
        "Visible text not marked for translation (wrap it in {% translate %} or "
        "{% blocktranslate %}, or allow it in tests/test_i18n.py ALLOWED_TEXT if it is the "
        "same in every language):\n  " + "\n  ".join(problems)
    )


def test_the_template_check_finds_unmarked_text(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        '{% load i18n %}<h1>{% translate "Cases" %}</h1>\n<p>Keine Fälle</p>\n'
        '<button aria-label="Schließen">\N{MULTIPLICATION SIGN}</button>'
        "{{ case.reference }} <b>Ankommen</b>\n"
        "{% blocktranslate %}Hello {{ name }}{% endblocktranslate %} 3 %\n"
        "{# a comment #}<script>let x = 'text';</script>",
        encoding="utf-8",
    )
    assert untranslated_template_text(page) == [
        "page.html:2: 'Keine Fälle'",
        "page.html:3: 'aria-label=\"Schließen\"'",
    ]


# --- catalogs ---------------------------------------------------------------------------


def test_german_catalog_is_complete_and_not_fuzzy() -> None:
    entries = read_po(_po("de"))
    assert len(entries) > 50, "locale/de/LC_MESSAGES/django.po looks empty"
    missing = [f"line {e.line}: {e.msgid!r}" for e in entries if not e.translated]
    fuzzy = [f"line {e.line}: {e.msgid!r}" for e in entries if "fuzzy" in e.flags]
    assert not missing, "German translation missing:\n  " + "\n  ".join(missing)
    assert not fuzzy, "German translation marked fuzzy (check, then drop the flag):\n  " + (
        "\n  ".join(fuzzy)
    )


@pytest.mark.parametrize("language", ["de", "en"])
def test_translations_keep_their_placeholders(language: str) -> None:
    wrong = []
    for entry in read_po(_po(language)):
        expected = placeholders(entry.msgid) | placeholders(entry.msgid_plural)
        for index, text in entry.msgstr.items():
            # A singular form may say "one" instead of "%(count)s".
            if text and placeholders(text) - expected:
                wrong.append(f"line {entry.line}: {entry.msgid!r} -> {text!r}")
            if text and not entry.msgid_plural and placeholders(text) != expected:
                wrong.append(f"line {entry.line}: {entry.msgid!r} -> {text!r}")
            if text and entry.msgid_plural and index > 0 and placeholders(text) != expected:
                wrong.append(f"line {entry.line}: {entry.msgid!r} -> {text!r}")
    assert not wrong, "placeholders differ from the msgid:\n  " + "\n  ".join(wrong)


def test_english_catalog_has_the_same_messages() -> None:
    german = {e.key for e in read_po(_po("de"))}
    english = {e.key for e in read_po(_po("en"))}
    assert german == english, (
        f"only German: {sorted(german - english)[:20]}; only English: "
        f"{sorted(english - german)[:20]}; run makemessages for both languages"
    )


@pytest.mark.parametrize("language", ["de", "en"])
def test_compiled_catalog_matches_the_po_file(language: str) -> None:
    mo = _po(language).with_suffix(".mo")
    assert mo.exists(), f"{mo.relative_to(ROOT)} is missing: run compilemessages"
    with mo.open("rb") as handle:
        catalog = gettext.GNUTranslations(handle)._catalog  # type: ignore[attr-defined]
    stale = []
    for entry in read_po(_po(language)):
        if "fuzzy" in entry.flags or not entry.translated:
            continue
        key = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        if entry.msgid_plural:
            got = {i: catalog.get((key, i)) for i in entry.msgstr}
        else:
            got = {0: catalog.get(key)}
        if got != entry.msgstr:
            stale.append(repr(entry.msgid))
    assert not stale, (
        f"{mo.relative_to(ROOT)} is older than the .po file (run compilemessages and commit "
        "the .mo):\n  " + "\n  ".join(stale[:30])
    )


def test_catalogs_are_current_with_the_sources(tmp_path: Path, monkeypatch) -> None:
    if not shutil.which("xgettext") or not shutil.which("msguniq"):
        message = "GNU gettext (xgettext) is not installed: cannot check the catalogs"
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip("SKIPPED LOUDLY: " + message)
    # makemessages writes next to a "locale" folder it finds in the working directory, so
    # it runs in a mirror of the sources (symlinks) without one, into a temporary catalog.
    mirror, out = tmp_path / "src", tmp_path / "out"
    mirror.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in MAKEMESSAGES_IGNORE and not entry.name.startswith("."):
            (mirror / entry.name).symlink_to(entry)
    monkeypatch.chdir(mirror)
    with override_settings(LOCALE_PATHS=[out]):
        call_command(
            "makemessages",
            locale=["de"],
            ignore_patterns=MAKEMESSAGES_IGNORE,
            symlinks=True,
            verbosity=0,
        )
    fresh = {e.key for e in read_po(out / "de" / "LC_MESSAGES" / "django.po")}
    committed = {e.key for e in read_po(_po("de"))}
    assert fresh == committed, (
        "locale/ is stale; run makemessages (README) and translate.\n"
        f"  new in the sources: {sorted(k[1] for k in fresh - committed)}\n"
        f"  no longer in the sources: {sorted(k[1] for k in committed - fresh)}"
    )


# --- dates and numbers in the user's language ------------------------------------------


@pytest.mark.parametrize(
    ("language", "short", "long", "number"),
    [
        ("de", "26.11.2026", "26. November 2026", "1.234,5"),
        ("en", "11/26/2026", "Nov. 26, 2026", "1,234.5"),
    ],
)
def test_dates_and_numbers_follow_the_language(
    language: str, short: str, long: str, number: str
) -> None:
    template = Template('{{ day|date:"SHORT_DATE_FORMAT" }}|{{ day }}|{{ n }}')
    with translation.override(language), override_settings(USE_THOUSAND_SEPARATOR=True):
        rendered = template.render(Context({"day": dt.date(2026, 11, 26), "n": 1234.5}))
    assert rendered == f"{short}|{long}|{number}"


def test_german_is_the_default_language() -> None:
    from django.conf import settings

    assert settings.LANGUAGE_CODE == "de"
    assert settings.USE_I18N
    with translation.override("de"):
        assert translation.gettext("Log in") == "Anmelden"
