"""Fixtures of the case tests: colleagues in the same and another team, institution staff."""

from __future__ import annotations

import pytest

from coordination.models import AuditEntry
from tests.factories import UserFactory


@pytest.fixture
def colleague(db, team):
    """A second coordinator of the same team."""
    return UserFactory(role="coordinator", team=team, username="colleague")


@pytest.fixture
def audit_actions(db):
    """The audit actions written so far, oldest first."""

    def actions(**filters) -> list[str]:
        return list(
            AuditEntry.objects.filter(**filters).order_by("id").values_list("action", flat=True)
        )

    return actions


@pytest.fixture
def english():
    """Messages are asserted in English (the source language); modules opt in."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture
def coord_client(client, coordinator):
    """The test client logged in as the team's coordinator, reading English pages."""
    type(coordinator).objects.filter(pk=coordinator.pk).update(language="en")
    coordinator.language = "en"
    client.force_login(coordinator)
    return client
