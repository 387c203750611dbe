"""Shared fixtures: one user per role, and the rule for tests that need real services.

Tests marked ``postgres`` or ``redis`` need the real server. Without it they are skipped
with a loud reason, unless ``REQUIRE_SERVICES=1`` (set by .ci/run), where they fail.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest
from django.conf import settings

from tests.factories import (
    DistrictFactory,
    InstitutionFactory,
    TeamFactory,
    UserFactory,
)

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def _redis_up() -> bool:
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        return False
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


def _postgres_in_use() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    pg, redis = _postgres_in_use(), _redis_up()
    for item in items:
        if "postgres" in item.keywords and not pg:
            reason = "needs PostgreSQL: set DATABASE_URL=postgres://... (CI does)"
            item.add_marker(
                pytest.mark.usefixtures("_fail_missing_service")
                if REQUIRE_SERVICES
                else pytest.mark.skip(reason="SKIPPED LOUDLY: " + reason)
            )
        if "redis" in item.keywords and not redis:
            reason = "needs Redis: set CELERY_BROKER_URL=redis://127.0.0.1:6379/0 (CI does)"
            item.add_marker(
                pytest.mark.skip(reason="SKIPPED LOUDLY: " + reason)
                if not REQUIRE_SERVICES
                else pytest.mark.usefixtures("_fail_missing_service")
            )


@pytest.fixture(scope="session", autouse=True)
def _flush_past_the_audit_truncate_trigger() -> Any:
    """Transactional tests end with Django's flush, a TRUNCATE of every table, which the
    audit log's trigger refuses (as it should in production). The test database's owner
    switches that one trigger off around the flush, inside the flush's own transaction."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, **kwargs):  # type: ignore[no-untyped-def]
        statements = original(self, style, tables, **kwargs)
        if "coordination_auditentry" in tables and statements:
            table = self.quote_name("coordination_auditentry")
            statements = [
                f"ALTER TABLE {table} DISABLE TRIGGER audit_no_truncate;",
                *statements,
                f"ALTER TABLE {table} ENABLE TRIGGER audit_no_truncate;",
            ]
        return statements

    DatabaseOperations.sql_flush = sql_flush  # type: ignore[method-assign]
    yield
    DatabaseOperations.sql_flush = original  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """The cache outlives a test's database transaction (OfficeSettings, axes): start clean."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def _fail_missing_service() -> None:
    pytest.fail("REQUIRE_SERVICES=1 but a needed service (PostgreSQL or Redis) is missing")


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    skipped = terminalreporter.stats.get("skipped", [])
    loud = [r for r in skipped if "SKIPPED LOUDLY" in str(getattr(r, "longrepr", ""))]
    if loud:
        terminalreporter.write_sep(
            "!",
            f"{len(loud)} tests needing PostgreSQL/Redis/chromium/gettext were SKIPPED "
            "(run .ci/run for them)",
        )


@pytest.fixture
def district(db):
    return DistrictFactory()


@pytest.fixture
def team(db):
    return TeamFactory()


@pytest.fixture
def coordinator(db, team):
    return UserFactory(role="coordinator", team=team, username="coord")


@pytest.fixture
def other_coordinator(db):
    return UserFactory(role="coordinator", team=TeamFactory(), username="coord_other")


@pytest.fixture
def institution(db, district):
    return InstitutionFactory(district=district)


@pytest.fixture
def school_user(db, institution):
    return UserFactory(role="institution_staff", institutions=[institution], username="school")


@pytest.fixture
def management_user(db):
    return UserFactory(role="management", username="mgmt")


@pytest.fixture
def admin_user_role(db):
    return UserFactory(role="administrator", username="adm", is_staff=True, is_superuser=True)


@pytest.fixture
def decrypted(monkeypatch):  # type: ignore[no-untyped-def]
    """The contexts (app.model.field) of every value decrypted during the test, in order."""
    from coordination.crypto import Keyring

    seen: list[str] = []
    real = Keyring.decrypt

    def spy(self, token, *, context, aad=None):  # type: ignore[no-untyped-def]
        seen.append(context)
        return real(self, token, context=context, aad=aad)

    monkeypatch.setattr(Keyring, "decrypt", spy)
    return seen


@pytest.fixture
def no_school_holidays(db):  # type: ignore[no-untyped-def]
    """Tests of the reminder levels themselves are dated around Easter 2026, in the Osterferien
    of Rhineland-Palatinate: without the shipped holidays a school counts working days like
    the office. The holidays have their own tests (test_school_holidays.py)."""
    from referrals.models import ClosingPeriod

    ClosingPeriod.objects.all().delete()
