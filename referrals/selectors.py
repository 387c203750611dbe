"""Every read of institutions and referrals that depends on who asks."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404

from cases.selectors import cases_visible_to
from coordination.roles import is_coordinator, is_institution_staff
from referrals.models import Institution, InstitutionUserObjectPermission, Referral


def institutions_of(user: Any) -> QuerySet[Institution]:
    """The institutions a staff member works for (guardian object permission)."""
    if not is_institution_staff(user):
        return Institution.objects.none()
    held = InstitutionUserObjectPermission.objects.filter(
        content_object=OuterRef("pk"), user=user, permission__codename="staff_institution"
    )
    return Institution.objects.filter(Exists(held))


def referrals_for_institution(user: Any) -> QuerySet[Referral]:
    """Referrals addressed to the user's institution(s): the institution inbox."""
    return Referral.objects.filter(institution__in=institutions_of(user))


def referrals_visible_to(user: Any) -> QuerySet[Referral]:
    """Coordinators: referrals of their cases. Staff: referrals to their institutions."""
    if is_coordinator(user):
        return Referral.objects.filter(case__in=cases_visible_to(user))
    if is_institution_staff(user):
        return referrals_for_institution(user)
    return Referral.objects.none()


def referral_get_for_user(*, user: Any, pk: int | str) -> Referral:
    try:
        return (
            referrals_visible_to(user)
            .select_related("case", "institution", "case__coordinator")
            .get(pk=int(pk))
        )
    except (Referral.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def institution_get_for_staff(*, user: Any, pk: int | str) -> Institution:
    try:
        return institutions_of(user).get(pk=int(pk))
    except (Institution.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc
