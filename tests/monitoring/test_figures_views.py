"""The figures pages: who may see them, what they show, and that every export is the page."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from html.parser import HTMLParser

import pytest
import time_machine
from django.urls import reverse
from openpyxl import load_workbook

from coordination.models import AuditEntry
from tests.factories import UserFactory
from tests.monitoring.test_summaries import NOW, ready, world  # noqa: F401 - fixture
from tests.second_factor import log_in

URLS = ["figures", "figures_export", "figures_print"]


class TableParser(HTMLParser):
    """The page's tables as [caption, header row, body rows...], as a reader sees them
    (text for screen readers only, class kern-sr-only, is left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._caption: list[str] | None = None
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if self._skip or "kern-sr-only" in classes:
            self._skip += 1
        elif tag == "table":
            self.tables.append([])
        elif tag == "caption":
            self._caption = []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if self._skip:
            self._skip -= 1
            return
        if tag == "caption" and self._caption is not None:
            self.tables[-1].append([" ".join("".join(self._caption).split())])
            self._caption = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._cell is not None:
            self._cell.append(data)
        elif self._caption is not None:
            self._caption.append(data)


def html_tables(html: str) -> list[list[list[str]]]:
    parser = TableParser()
    parser.feed(html)
    return [t for t in parser.tables if t]


def csv_tables(text: str) -> list[list[list[str]]]:
    """The CSV's tables: blocks between empty lines that start with a caption and a header."""
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    blocks, block = [], []
    for r in rows:
        if not r:
            if block:
                blocks.append(block)
            block = []
        else:
            block.append(r)
    blocks.append(block)
    return [b for b in blocks[1:] if len(b) >= 2 and len(b[0]) == 1 and len(b[1]) > 1]


@pytest.fixture
def figures_data(world):  # type: ignore[no-untyped-def]  # noqa: F811
    for _ in range(4):
        ready(world, "north")
    ready(world, "south", group="g03")
    for _ in range(3):
        ready(world, "south", group="kita_3", target="kita", when=dt.date(2026, 1, 20))
    return world


@pytest.fixture
def fixed_now():  # type: ignore[no-untyped-def]
    with time_machine.travel(NOW, tick=False):
        yield


# --- access -----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("name", URLS)
def test_anonymous_users_are_sent_to_the_login(client, name: str) -> None:  # type: ignore[no-untyped-def]
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
@pytest.mark.parametrize("name", URLS)
def test_school_staff_and_users_without_a_role_get_403(client, school_user, name: str) -> None:  # type: ignore[no-untyped-def]
    for user in (school_user, UserFactory(username="nobody")):
        client.force_login(user)
        assert client.get(reverse(name)).status_code == 403
    assert not AuditEntry.objects.filter(action="figures.export").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("name", URLS)
@pytest.mark.parametrize("who", ["management_user", "coordinator", "admin_user_role"])
def test_management_coordinators_and_administrators_see_the_figures(  # type: ignore[no-untyped-def]
    client, request, name: str, who: str
) -> None:
    log_in(client, request.getfixturevalue(who))
    assert client.get(reverse(name)).status_code == 200


@pytest.mark.django_db
def test_management_starts_on_the_figures_page(client, management_user) -> None:  # type: ignore[no-untyped-def]
    client.force_login(management_user)
    response = client.get(reverse("home"))
    assert response.status_code == 302 and response["Location"] == reverse("figures")


@pytest.mark.django_db
def test_figures_accept_only_get(client, management_user) -> None:  # type: ignore[no-untyped-def]
    client.force_login(management_user)
    for name in URLS:
        assert client.post(reverse(name)).status_code == 405
    assert client.get(reverse("figures_export"), {"format": "pdf"}).status_code == 404


# --- the page -----------------------------------------------------------------------------------


def test_page_has_accessible_tables_and_charts_without_inline_code(  # type: ignore[no-untyped-def]
    client, management_user, figures_data, fixed_now
) -> None:
    client.force_login(management_user)
    html = client.get(reverse("figures")).content.decode()
    assert html.count("<table") == html.count("<caption id=") > 5
    assert 'scope="col"' in html and 'scope="row"' in html
    assert html.count('role="img"') == 3
    for key in ("chart-flow", "chart-waiting", "chart-days"):
        assert f'<title id="{key}-title">' in html and f'<desc id="{key}-desc">' in html
    assert " style=" not in html and "<script>" not in html.replace("<script src", "")
    assert 'id="fn-hidden"' in html, "the footnote explaining • is on the page"
    svg_numbers = re.findall(r' (?:x|y|x1|x2|y1|y2|cx|cy|width|height)="([^"]*)"', html)
    assert svg_numbers and not [n for n in svg_numbers if "," in n], "no German decimal comma"


def test_filters_come_from_the_query_string(  # type: ignore[no-untyped-def]
    client, management_user, figures_data, fixed_now
) -> None:
    client.force_login(management_user)
    south = figures_data["south"]
    response = client.get(
        reverse("figures"), {"district": south.pk, "target": "kita", "period": "3"}
    )
    page = response.context["page"]
    assert (page.filters.district, page.filters.target, page.filters.period) == (
        south.pk,
        "kita",
        "3",
    )
    captions = [t[0][0] for t in html_tables(response.content.decode())]
    assert not any("School" in c or "Schule" in c for c in captions if "Kita" not in c)
    unknown = client.get(reverse("figures"), {"district": "999999", "period": "x"})
    assert unknown.context["page"].filters.district is None
    assert unknown.context["page"].filters.period == "12"
    # "²" is a digit to str.isdigit, but not to int(): no 500.
    odd = client.get(reverse("figures"), {"district": "\u00b2", "page": "\u00b2"})
    assert odd.status_code == 200
    assert odd.context["page"].filters.district is None


# --- exports ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params", [{}, {"period": "3"}, {"target": "school"}, {"district": "south", "period": "6"}]
)
def test_csv_is_exactly_the_tables_of_the_page(  # type: ignore[no-untyped-def]
    client, management_user, figures_data, fixed_now, params
) -> None:
    if "district" in params:
        params = {**params, "district": figures_data[params["district"]].pk}
    client.force_login(management_user)
    page = html_tables(client.get(reverse("figures"), params).content.decode())
    response = client.get(reverse("figures_export"), {**params, "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    exported = csv_tables(response.content.decode("utf-8"))
    assert exported == page
    assert "•" in response.content.decode("utf-8"), "hidden cells are exported as the symbol"


def test_xlsx_has_the_same_cells_as_the_csv(  # type: ignore[no-untyped-def]
    client, management_user, figures_data, fixed_now
) -> None:
    client.force_login(management_user)
    text = client.get(reverse("figures_export"), {"format": "csv"}).content.decode("utf-8")
    expected = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    response = client.get(reverse("figures_export"), {"format": "xlsx"})
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).active
    found = [[_xlsx_text(v) for v in r if v is not None] for r in sheet.iter_rows(values_only=True)]
    assert found == [r for r in expected]


def _xlsx_text(value: object) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.1f}".replace(".", ",")
    return str(value)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("figures_export", "csv"), ("figures_export", "xlsx"), ("figures_print", "print")],
)
def test_every_export_is_audit_logged(  # type: ignore[no-untyped-def]
    client, management_user, figures_data, fixed_now, name, fmt
) -> None:
    client.force_login(management_user)
    params = {"format": fmt, "target": "kita"} if name == "figures_export" else {"target": "kita"}
    assert client.get(reverse(name), params).status_code == 200
    entry = AuditEntry.objects.get(action="figures.export")
    assert entry.actor == management_user
    assert entry.detail["format"] == fmt
    assert entry.detail["filters"] == {"period": "12", "district": None, "target": "kita"}
    assert client.get(reverse("figures")).status_code == 200
    assert AuditEntry.objects.filter(action="figures.export").count() == 1, "viewing is not"


def test_print_view_shows_the_tables_without_the_filter_form(  # type: ignore[no-untyped-def]
    client, management_user, figures_data, fixed_now
) -> None:
    client.force_login(management_user)
    html = client.get(reverse("figures_print")).content.decode()
    screen = client.get(reverse("figures")).content.decode()
    assert html_tables(html) == html_tables(screen)
    assert 'name="district"' not in html and "data-print" in html


def test_figures_never_name_a_case(  # type: ignore[no-untyped-def]
    client, management_user, figures_data, fixed_now
) -> None:
    client.force_login(management_user)
    html = client.get(reverse("figures")).content.decode()
    assert not re.search(r"NZ-\d{4}-\d+", html), "no case reference"
    assert "Amina" not in html and "Haddad" not in html, "no name from the factories"


def _district_rows(tables: list[list[list[str]]], caption: str) -> list[str]:
    """The row headers of the table whose caption starts with ``caption`` (no totals)."""
    (table,) = [t for t in tables if t[0][0].startswith(caption)]
    return [row[0] for row in table[2:] if row[0] not in ("Gesamt", "Total")]


def test_a_state_with_many_districts_is_shown_a_page_of_districts_at_a_time(  # type: ignore[no-untyped-def]
    client, management_user, figures_data, fixed_now
) -> None:
    """Hundreds of districts make no readable page: 25 at a time, alphabetically, the totals
    for all of them; the CSV and the print view hold every district."""
    from monitoring import tables
    from tests.factories import DistrictFactory, InstitutionFactory, PlacesFactory

    for i in range(1, 30):  # with Nord and Süd: 31 districts, two pages
        school = InstitutionFactory(district=DistrictFactory(name=f"Bezirk {i:02d}"))
        PlacesFactory(institution=school, group="g02", free=i)
    caption = "Freie Plätze nach Art der Einrichtung und Stadtteil"
    client.force_login(management_user)

    first = client.get(reverse("figures"))
    assert first.context["header"].district_pages == 2
    html = first.content.decode()
    assert "Stadtteile 1 bis 25 von 31" in html and 'page=2" rel="next"' in html
    page_one = _district_rows(html_tables(html), caption)
    assert page_one == [f"Bezirk {i:02d}" for i in range(1, 26)]

    second = client.get(reverse("figures"), {"page": "2"}).content.decode()
    page_two = _district_rows(html_tables(second), caption)
    assert page_two == ["Bezirk 26", "Bezirk 27", "Bezirk 28", "Bezirk 29", "Nord", "Süd"]
    assert 'page=1" rel="prev"' in second
    # The totals are the city's on every page.
    totals = [
        next(t for t in html_tables(text) if t[0][0].startswith(caption))[-1]
        for text in (html, second)
    ]
    assert totals[0] == totals[1] and totals[0][0] in ("Gesamt", "Total")

    exported = csv_tables(
        client.get(reverse("figures_export"), {"format": "csv"}).content.decode("utf-8")
    )
    assert _district_rows(exported, caption) == page_one + page_two
    printed = client.get(reverse("figures_print")).content.decode()
    assert _district_rows(html_tables(printed), caption) == page_one + page_two
    assert 'rel="next"' not in printed

    # Out of range or junk: the nearest page, never an error.
    assert client.get(reverse("figures"), {"page": "999"}).context["header"].district_page == 2
    assert client.get(reverse("figures"), {"page": "x"}).context["header"].district_page == 1
    # One district chosen: no paging.
    one = client.get(reverse("figures"), {"district": figures_data["north"].pk})
    assert one.context["header"].district_page is None
    assert tables.DISTRICTS_PER_PAGE == 25


def test_with_thousands_of_districts_the_filter_takes_a_name(  # type: ignore[no-untyped-def]
    client, management_user, figures_data, fixed_now, monkeypatch
) -> None:
    """A nationwide installation has thousands of districts: no list of them in every page;
    the reader types a name (any case, or a unique beginning of one)."""
    from monitoring import pages

    client.force_login(management_user)
    listed = client.get(reverse("figures")).content.decode()
    assert 'name="district"' in listed and 'name="district_name"' not in listed
    monkeypatch.setattr(pages, "DISTRICT_LIST_LIMIT", 1)
    south = figures_data["south"]
    html = client.get(reverse("figures"), {"period": "3"}).content.decode()
    assert (
        'name="district_name"' in html
        and '<select class="kern-form-input__select" id="figures-district"' not in html
    )
    for typed in (south.name.upper(), f"  {south.name[:3].lower()}"):
        response = client.get(reverse("figures"), {"district_name": typed, "period": "6"})
        assert response.context["page"].filters.district == south.pk
        assert f'value="{south.name}"' in response.content.decode()  # shown as chosen
    unknown = client.get(reverse("figures"), {"district_name": "Atlantis"})
    assert unknown.status_code == 200
    assert unknown.context["page"].filters.district is None
    assert "Atlantis" in unknown.content.decode()  # "no district is called ..."
    cleared = client.get(reverse("figures"), {"district_name": "", "district": south.pk})
    assert cleared.context["page"].filters.district is None  # an empty name: all districts
