"""Fixtures of the referral tests: a second school, a Kita, their staff, a ready case."""

from __future__ import annotations

import pytest

from cases.models import Group
from tests.factories import (
    CaseFactory,
    DistrictFactory,
    InstitutionFactory,
    PlacesFactory,
    ReferralFactory,
    UserFactory,
)
from tests.second_factor import log_in


@pytest.fixture
def other_institution(db, district):
    return InstitutionFactory(name="Grundschule Nebenan", district=district)


@pytest.fixture
def other_school_user(db, other_institution):
    return UserFactory(
        role="institution_staff", institutions=[other_institution], username="school_other"
    )


@pytest.fixture
def kita(db, district):
    return InstitutionFactory(kita=True, district=district)


@pytest.fixture
def kita_user(db, kita):
    return UserFactory(role="institution_staff", institutions=[kita], username="kita")


@pytest.fixture
def far_district(db):
    return DistrictFactory(name="Weit weg")


@pytest.fixture
def ready_case(coordinator, district):
    return CaseFactory(coordinator=coordinator, ready=True, district=district)


@pytest.fixture
def free_places(institution):
    return PlacesFactory(institution=institution, group=Group.GRADE_2, free=2)


@pytest.fixture
def referral(coordinator, institution, ready_case):
    return ReferralFactory(coordinator=coordinator, institution=institution, case=ready_case)


@pytest.fixture
def login():
    """A test client logged in as ``user``, who reads the English interface.

    English msgids are the source strings: assertions on page text then stay true whatever
    the German translation says.
    """
    from django.test import Client

    def _login(user):  # type: ignore[no-untyped-def]
        type(user).objects.filter(pk=user.pk).update(language="en")
        return log_in(Client(), user)

    return _login


@pytest.fixture
def rlp_school_holidays(db):  # type: ignore[no-untyped-def]
    """The school holidays the data migration ships (a flushing transactional test may have
    removed them from the test database)."""
    import importlib
    from pathlib import Path

    import referrals.migrations
    from referrals.models import ClosingPeriod

    (path,) = Path(referrals.migrations.__file__).parent.glob("*_school_holidays.py")
    shipped = importlib.import_module(f"referrals.migrations.{path.stem}").RLP_SCHOOL_HOLIDAYS
    for name, start, end in shipped:
        ClosingPeriod.objects.get_or_create(
            applies_to="schools", start=start, end=end, institution=None, defaults={"name": name}
        )
    return shipped
