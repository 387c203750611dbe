"""Role names, their groups, and the questions every app asks about a user's role.

Roles are Django groups. Object-level rights (a coordinator's shared cases, a staff member's
institutions) are django-guardian object permissions held in the apps' own tables.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

COORDINATOR = "coordinator"
INSTITUTION_STAFF = "institution_staff"
MANAGEMENT = "management"
ADMINISTRATOR = "administrator"

ROLES = (COORDINATOR, INSTITUTION_STAFF, MANAGEMENT, ADMINISTRATOR)
ROLE_LABELS = {
    COORDINATOR: _("Coordinator"),
    INSTITUTION_STAFF: _("School or Kita staff"),
    MANAGEMENT: _("Management"),
    ADMINISTRATOR: _("Administrator"),
}


def role_names(user: Any) -> set[str]:
    """The role group names of a user (cached on the user object for the request)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return set()
    cached = getattr(user, "_role_names", None)
    if cached is None:
        cached = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        user._role_names = cached
    return cached


def has_role(user: Any, role: str) -> bool:
    return role in role_names(user)


def is_coordinator(user: Any) -> bool:
    return has_role(user, COORDINATOR)


def is_institution_staff(user: Any) -> bool:
    return has_role(user, INSTITUTION_STAFF)


def is_management(user: Any) -> bool:
    return has_role(user, MANAGEMENT)


def is_administrator(user: Any) -> bool:
    return has_role(user, ADMINISTRATOR) or bool(getattr(user, "is_superuser", False))


def may_see_figures(user: Any) -> bool:
    """Management, coordinators and administrators may see the anonymised figures."""
    return is_management(user) or is_coordinator(user) or is_administrator(user)


def may_import(user: Any) -> bool:
    """Administrators, and coordinators with a team, may import an office's lists."""
    return is_administrator(user) or (
        is_coordinator(user) and getattr(user, "team_id", None) is not None
    )


def ensure_role_groups() -> None:
    """Create the role groups (idempotent); called from migrations and seed_demo."""
    from django.contrib.auth.models import Group

    for name in ROLES:
        Group.objects.get_or_create(name=name)
