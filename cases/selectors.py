"""Every read of cases that depends on who asks. Views get their cases only from here."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django_fsm import has_transition_perm

from cases.models import Case, CaseUserObjectPermission
from cases.services import USER_TRANSITIONS
from coordination.crypto import blind_index, phonetic
from coordination.roles import is_coordinator


def cases_visible_to(user: Any) -> QuerySet[Case]:
    """Cases a coordinator may see and work: their team's, and those shared with them.

    Every other role gets an empty queryset (institutions see referrals, not cases).
    """
    if not is_coordinator(user):
        return Case.objects.none()
    shared = CaseUserObjectPermission.objects.filter(
        content_object=OuterRef("pk"), user=user, permission__codename="work_case"
    )
    rule = Q(Exists(shared))
    if user.team_id is not None:
        rule |= Q(team_id=user.team_id)
    return Case.objects.filter(rule)


def case_get_for_user(*, user: Any, pk: int | str) -> Case:
    """One case the user may see, or 404 (never reveal that it exists)."""
    try:
        return cases_visible_to(user).select_related("team", "coordinator", "district").get(
            pk=int(pk)
        )
    except (Case.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def case_get_by_reference(*, user: Any, reference: str) -> Case | None:
    return cases_visible_to(user).filter(reference=reference.strip().upper()).first()


def case_transitions_for(*, user: Any, case: Case) -> list[tuple[str, Any]]:
    """The coordinator transitions this user may take on this case now (for buttons)."""
    allowed = []
    for name, label in USER_TRANSITIONS.items():
        method = getattr(case, name)
        if has_transition_perm(method, user):
            allowed.append((name, label))
    return allowed


def cases_matching_identity(
    *, given_name: str, family_name: str, birth_date: dt.date | None
) -> QuerySet[Case]:
    """Possible duplicates among all cases (exact or phonetic), for the intake warning."""
    if not family_name or birth_date is None:
        return Case.objects.none()
    birth = birth_date.isoformat()
    exact = blind_index(f"{given_name} {family_name} {birth}", purpose="identity")
    phon = blind_index(
        f"{phonetic(given_name)}|{phonetic(family_name)}|{birth}", purpose="phonetic"
    )
    return Case.objects.filter(Q(bidx_identity=exact) | Q(bidx_phonetic=phon)).filter(
        erased_at__isnull=True
    )


def cases_possible_siblings(*, family_name: str) -> QuerySet[Case]:
    """Cases with a family name that sounds the same (Kölner Phonetik), open ones only."""
    if not family_name.strip():
        return Case.objects.none()
    key = blind_index(phonetic(family_name), purpose="family-phonetic")
    return Case.objects.filter(bidx_family_phonetic=key, erased_at__isnull=True).exclude(
        state="closed"
    )


def cases_search(*, user: Any, query: str) -> QuerySet[Case]:
    """Search by reference, or exact name / birth date through the blind indexes."""
    qs = cases_visible_to(user)
    query = query.strip()
    if not query:
        return qs
    if query.upper().startswith("NZ-") or query.upper().startswith(_prefix()):
        return qs.filter(reference=query.upper())
    try:
        birth = dt.date.fromisoformat(query)
    except ValueError:
        birth = _parse_german_date(query)
    if birth is not None:
        return qs.filter(bidx_birth=blind_index(birth.isoformat(), purpose="birth"))
    return qs.filter(
        Q(bidx_name=blind_index(query, purpose="name"))
        | Q(bidx_family=blind_index(query, purpose="family"))
    )


def _prefix() -> str:
    from django.conf import settings

    return f"{settings.CASE_REFERENCE_PREFIX}-"


def _parse_german_date(value: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(value, "%d.%m.%Y").date()
    except ValueError:
        return None
