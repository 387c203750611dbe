from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.factories import DistrictFactory, TeamFactory, UserFactory

DATA = Path(__file__).resolve().parents[1] / "data" / "import"


@pytest.fixture
def office(db: Any) -> SimpleNamespace:
    """A team with a coordinator, another team, an administrator and two districts."""
    team, other = TeamFactory(name="Team Nord"), TeamFactory(name="Team Süd")
    return SimpleNamespace(
        team=team,
        other_team=other,
        coordinator=UserFactory(username="koordination", role="coordinator", team=team),
        other_coordinator=UserFactory(username="andere", role="coordinator", team=other),
        admin=UserFactory(username="verwaltung", role="administrator", is_staff=True),
        altstadt=DistrictFactory(name="Altstadt"),
        luetzel=DistrictFactory(name="Lützel"),
    )
