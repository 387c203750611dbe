from __future__ import annotations

import pytest

from tests.factories import OfferFactory, ProviderFactory, UserFactory


@pytest.fixture
def provider(db, district):
    return ProviderFactory(district=district, name="Jugendmigrationsdienst Test")


@pytest.fixture
def provider_user(db, provider):
    return UserFactory(role="institution_staff", providers=[provider], username="jmd")


@pytest.fixture
def offer(db, provider):
    return OfferFactory(provider=provider, title="Deutschkurs Lützel", free_places=2)
