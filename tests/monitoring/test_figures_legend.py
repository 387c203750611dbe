"""The figures page explains its signs next to each table; downloads are named in German."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import translation

from tests.monitoring.test_figures_views import figures_data, fixed_now  # noqa: F401 - fixtures
from tests.monitoring.test_summaries import world  # noqa: F401 - fixture


@pytest.mark.usefixtures("figures_data", "fixed_now")
def test_hidden_cells_explain_themselves_and_each_table_has_a_legend(
    client, management_user
) -> None:  # type: ignore[no-untyped-def]
    client.force_login(management_user)
    html = client.get(reverse("figures")).content.decode()
    hidden = re.findall(r'<td class="[^"]*app-suppressed"[^>]*>', html)
    assert hidden, "the test data hides some cells"
    for cell in hidden:
        assert 'tabindex="0"' in cell and "title=" in cell
        described = re.search(r'aria-describedby="([^"]+)"', cell)
        assert described and f'id="{described.group(1)}"' in html, "the legend it points to"
    assert "zu wenige" in html.lower()
    # Every table region is a labelled, focusable region of its own.
    regions = re.findall(r'<div class="kern-table-responsive app-table-scroll"[^>]*>', html)
    assert len(regions) == html.count("<table")
    assert all('role="region"' in r and 'tabindex="0"' in r for r in regions)


@pytest.mark.usefixtures("figures_data", "fixed_now")
def test_downloads_are_named_in_the_interfaces_language(client, management_user) -> None:  # type: ignore[no-untyped-def]
    client.force_login(management_user)
    response = client.get(reverse("figures_export"), {"format": "csv"})
    assert 'filename="ankommen-kennzahlen-2026-' in response["Content-Disposition"]
    management_user.language = "en"
    management_user.save(update_fields=["language"])
    response = client.get(reverse("figures_export"), {"format": "xlsx"})
    assert 'filename="ankommen-figures-2026-' in response["Content-Disposition"]
    translation.activate("de")
