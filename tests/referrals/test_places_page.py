"""The free-places page says when each figure was last confirmed, by which role, and nudges
when a figure is older than the office's limit."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from cases.models import Group
from coordination.models import OfficeSettings
from referrals.models import Places
from referrals.services import places_update

pytestmark = pytest.mark.django_db


def test_each_figure_shows_its_date_and_the_role_that_confirmed_it(
    login, school_user, institution
) -> None:
    places_update(institution=institution, by=school_user, counts={Group.GRADE_2: 3})
    html = login(school_user).get(reverse("referrals:places")).content.decode()
    assert f"{timezone.localdate():%m/%d/%Y}" in html
    assert "by: School or Kita staff" in html
    assert school_user.username not in html.split("<main", 1)[-1].split("</main>")[0]
    assert "Please update" not in html.split("marked “Please update”")[-1]


def test_a_stale_figure_is_nudged_with_its_age(login, school_user, institution) -> None:
    places_update(institution=institution, by=school_user, counts={Group.GRADE_2: 3})
    office = OfficeSettings.current()
    Places.objects.filter(institution=institution).update(
        updated_at=timezone.now() - dt.timedelta(days=office.places_stale_days + 6)
    )
    html = login(school_user).get(reverse("referrals:places")).content.decode()
    assert f"Please update \u2013 unchanged for {office.places_stale_days + 6} days" in html
