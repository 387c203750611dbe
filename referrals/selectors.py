"""Every read of institutions and referrals that depends on who asks.

Views get their institutions and referrals only from here, so each access rule lives in one
place: coordinators see the referrals of the cases they may work; institution staff see the
referrals addressed to their institution(s), with only the case fields they need.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models import Case as SqlCase
from django.http import Http404
from django.utils import timezone

from cases.models import Case
from cases.selectors import cases_visible_to
from coordination.models import District, OfficeSettings, User
from coordination.roles import ROLE_LABELS, ROLES, is_coordinator, is_institution_staff
from referrals.calendars import Calendars, answer_deadline
from referrals.models import (
    OPEN_REFERRAL_STATES,
    Institution,
    InstitutionKind,
    InstitutionUserObjectPermission,
    Places,
    Referral,
    ReferralState,
    groups_for_kind,
    kinds_for_group,
    target_for_kind,
)

# What an institution may see of a case (issue 4): name, birth date, languages, interpreter
# needed, wanted group, previous schooling, the support flag, and the coordinator's contact.
# ``.only()`` keeps every other encrypted field of the case from even being decrypted.
INSTITUTION_CASE_FIELDS = (
    "given_name",
    "family_name",
    "birth_date",
    "languages",
    "interpreter_needed",
    "wanted_group",
    "school_years",
    "last_grade",
    "literate_own_script",
    "support_needed",
)
# Plain fields the page needs besides (reference, and what the model machinery reads).
_CASE_PLAIN_FIELDS = ("reference", "state", "erased_at", "target_type", "team", "coordinator")
_COORDINATOR_CONTACT = ("first_name", "last_name", "email", "phone")
_REFERRAL_FIELDS = tuple(f.name for f in Referral._meta.concrete_fields)
# Referral states that tie a sibling to an institution (suggestions: siblings first).
SIBLING_STATES = [ReferralState.PENDING, ReferralState.ACCEPTED, ReferralState.ENROLLED]


def institutions_of(user: User) -> QuerySet[Institution]:
    """The institutions a staff member works for (guardian object permission)."""
    if not is_institution_staff(user):
        return Institution.objects.none()
    held = InstitutionUserObjectPermission.objects.filter(
        content_object=OuterRef("pk"), user=user, permission__codename="staff_institution"
    )
    return Institution.objects.filter(Exists(held))


def referrals_for_institution(user: User) -> QuerySet[Referral]:
    """Referrals addressed to the user's institution(s): the institution inbox."""
    return Referral.objects.filter(institution__in=institutions_of(user))


def referrals_visible_to(user: User) -> QuerySet[Referral]:
    """Coordinators: referrals of their cases. Staff: referrals to their institutions."""
    if is_coordinator(user):
        return Referral.objects.filter(case__in=cases_visible_to(user))
    if is_institution_staff(user):
        return referrals_for_institution(user)
    return Referral.objects.none()


def referral_get_for_user(*, user: User, pk: int | str) -> Referral:
    """One referral the user may see (any field loaded), or 404."""
    try:
        return (
            referrals_visible_to(user)
            .select_related("case", "institution", "case__coordinator")
            .get(pk=int(pk))
        )
    except (Referral.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


# A referral that ended without a place: after ``OfficeSettings.closed_referral_visible_days``
# the institution sees only its reference, outcome and dates (issue 14, point 10). Enrolled
# referrals stay readable: the child attends the institution, which keeps its own records.
CLOSED_UNSUCCESSFUL_STATES = [
    ReferralState.DECLINED,
    ReferralState.EXPIRED,
    ReferralState.WITHDRAWN,
    ReferralState.NO_SHOW,
]
# What such a referral still shows: no encrypted field of the case or the referral.
_HIDDEN_REFERRAL_FIELDS = tuple(
    f for f in _REFERRAL_FIELDS if f not in {"message", "answer_comment"}
)
_HIDDEN_CASE_FIELDS = ("case__reference", "case__state", "case__erased_at", "case__team")


def closed_referral_cutoff(now: dt.datetime | None = None) -> dt.datetime:
    """Unsuccessful referrals closed before this moment no longer show the child's details
    to the institution (OfficeSettings)."""
    days = OfficeSettings.current().closed_referral_visible_days
    return (now or timezone.now()) - dt.timedelta(days=days)


def _details_hidden(cutoff: dt.datetime) -> Q:
    # No closing time (older data) counts as closed long ago: hide rather than show.
    return Q(state__in=CLOSED_UNSUCCESSFUL_STATES) & (
        Q(closed_at__lt=cutoff) | Q(closed_at__isnull=True)
    )


def _sees_as_institution(user: User) -> bool:
    """The same branch as ``referrals_visible_to``: staff who are not also coordinators."""
    return not is_coordinator(user) and is_institution_staff(user)


def referral_get_for_page(*, user: User, pk: int | str) -> Referral:
    """One referral for the referral page, with only the case fields an institution may see.

    The same restricted view serves coordinators: the case page is where they see the rest.
    For institution staff, a referral that ended without a place more than the office's
    period ago is loaded without any personal field (``details_hidden`` is set): the page
    shows the reference, the outcome and the dates only.
    """
    try:
        pk = int(pk)
    except (ValueError, TypeError) as exc:
        raise Http404 from exc
    visible = referrals_visible_to(user)
    hidden = (
        _sees_as_institution(user)
        and visible.filter(_details_hidden(closed_referral_cutoff()), pk=pk).exists()
    )
    if hidden:
        fields: tuple[str, ...] = (*_HIDDEN_REFERRAL_FIELDS, *_HIDDEN_CASE_FIELDS)
        related: tuple[str, ...] = ("case", "institution")
    else:
        case_fields = [f"case__{f}" for f in (*INSTITUTION_CASE_FIELDS, *_CASE_PLAIN_FIELDS)]
        contact = [f"case__coordinator__{f}" for f in _COORDINATOR_CONTACT]
        fields = (
            *_REFERRAL_FIELDS, *case_fields, *contact, "case__team__name", "case__team__mailbox",
        )  # fmt: skip
        related = ("case", "institution", "case__coordinator", "case__team")
    try:
        referral = (
            visible.select_related(*related)
            .only(*fields, "institution__name", "institution__kind", "institution__district")
            .get(pk=pk)
        )
    except Referral.DoesNotExist as exc:
        raise Http404 from exc
    referral.details_hidden = hidden  # type: ignore[attr-defined]
    return referral


def referral_page_fields(*, details_hidden: bool = False) -> list[str]:
    """The case fields the referral page shows (recorded in the access log)."""
    if details_hidden:
        return ["reference"]
    return ["reference", *INSTITUTION_CASE_FIELDS, "coordinator"]


class InboxSection:
    """The inbox's three sections, most urgent first."""

    TO_ANSWER = "to_answer"  # pending: answer by the deadline
    TO_CONFIRM = "to_confirm"  # accepted, start date reached (or none agreed): confirm
    DONE = "done"  # everything else (an accepted referral whose start is still ahead too)

    ORDER = (TO_ANSWER, TO_CONFIRM, DONE)


def _section_order(today: dt.date) -> SqlCase:
    return SqlCase(
        When(state=ReferralState.PENDING, then=Value(0)),
        When(
            Q(state=ReferralState.ACCEPTED)
            & (Q(start_date__lte=today) | Q(start_date__isnull=True)),
            then=Value(1),
        ),
        default=Value(2),
        output_field=IntegerField(),
    )


def referrals_inbox(*, user: User, show: str = "open") -> QuerySet[Referral]:
    """The institution inbox: to answer (oldest, so most urgent, first), then enrolments to
    confirm (earliest start first), then the rest. ``show="open"``: only the first two.

    Only the case's reference is loaded, nothing encrypted: ``inbox_rows`` adds the names of
    the rows whose details the institution may still see. ``details_hidden`` is annotated.
    """
    today = timezone.localdate()
    qs = referrals_for_institution(user)
    if show == "open":
        qs = qs.filter(state__in=OPEN_REFERRAL_STATES)
    hidden = SqlCase(
        When(_details_hidden(closed_referral_cutoff()), then=Value(True)),
        default=Value(False),
        output_field=BooleanField(),
    )
    return (
        qs.select_related("case", "institution")
        .only(
            *_HIDDEN_REFERRAL_FIELDS,
            "case__reference",
            "case__state",
            "case__erased_at",
            "institution__name",
            "institution__kind",
        )
        .annotate(state_order=_section_order(today), details_hidden=hidden)
        .order_by("state_order", F("start_date").asc(nulls_last=True), "created_at", "pk")
    )


def inbox_counts(*, user: Any) -> dict[str, int]:
    """How many referrals each inbox section holds (all of them, not one page)."""
    order = dict(
        referrals_for_institution(user)
        .annotate(section=_section_order(timezone.localdate()))
        .values("section")
        .annotate(n=Count("pk"))
        .values_list("section", "n")
    )
    return {name: order.get(i, 0) for i, name in enumerate(InboxSection.ORDER)}


def inbox_rows(
    referrals: Any, *, calendars: Calendars | None = None, expiry_days: int | None = None
) -> list[Referral]:
    """One inbox page: each row gets ``child_name`` (decrypted only for the rows whose
    details the institution may still see, None for the others), its ``section`` and, when
    it waits for an answer, its ``deadline`` (the sweep's count, ``referrals.calendars``)."""
    rows = list(referrals)
    shown = [r.case_id for r in rows if not getattr(r, "details_hidden", True)]
    names = {
        c.pk: c.display_name
        # "state" too: the FSM mixin reads it when a case is loaded, one query per row else.
        for c in Case.objects.filter(pk__in=shown).only(
            "id", "state", "given_name", "family_name", "erased_at"
        )
    }
    if any(r.state == ReferralState.PENDING for r in rows):
        calendars = calendars or Calendars.load()
        if expiry_days is None:
            expiry_days = OfficeSettings.current().expiry_days
    for row in rows:
        row.child_name = names.get(row.case_id)  # type: ignore[attr-defined]
        order = getattr(row, "state_order", 2)
        row.section = InboxSection.ORDER[order]  # type: ignore[attr-defined]
        row.deadline = (  # type: ignore[attr-defined]
            answer_deadline(
                row,
                expiry_days=expiry_days,  # type: ignore[arg-type]
                calendar=calendars.for_referral(row),  # type: ignore[union-attr]
            )
            if row.state == ReferralState.PENDING
            else None
        )
    return rows


def institution_get_for_staff(*, user: User, pk: int | str) -> Institution:
    try:
        return institutions_of(user).get(pk=int(pk))
    except (Institution.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


# --- places -----------------------------------------------------------------------------


def places_stale_before(now: dt.datetime | None = None) -> dt.datetime:
    """Free-place figures updated before this moment are stale (OfficeSettings)."""
    days = OfficeSettings.current().places_stale_days
    return (now or timezone.now()) - dt.timedelta(days=days)


@dataclass(frozen=True)
class PlacesRow:
    group: str
    label: str
    free: int | None
    reserved: int
    updated_at: dt.datetime | None
    stale: bool
    # Who confirmed the figure last, as a role ("School or Kita staff"), never a name.
    updated_by_role: str = ""
    days_unchanged: int | None = None


def _role_labels(user_ids: set[int]) -> dict[int, str]:
    """The role label of each user (the first of ``ROLES`` they hold), in one query."""
    from django.contrib.auth.models import Group

    through = Group.user_set.through  # type: ignore[attr-defined]
    held: dict[int, set[str]] = {}
    for user_id, name in through.objects.filter(
        user_id__in=user_ids, group__name__in=ROLES
    ).values_list("user_id", "group__name"):
        held.setdefault(user_id, set()).add(name)
    return {
        pk: str(ROLE_LABELS[next(role for role in ROLES if role in names)])
        for pk, names in held.items()
    }


def places_rows_for(institution: Institution) -> list[PlacesRow]:
    """Free places per group relevant to the institution (kind's groups + recorded ones)."""
    from cases.models import Group

    recorded = {p.group: p for p in institution.places.all()}
    groups = groups_for_kind(institution.kind)
    groups += [g for g in recorded if g not in groups]
    order = [g.value for g in Group]
    stale_before = places_stale_before()
    today = timezone.localdate()
    roles = _role_labels({p.updated_by_id for p in recorded.values() if p.updated_by_id})
    rows = []
    for group in sorted(groups, key=order.index):
        places = recorded.get(group)
        rows.append(
            PlacesRow(
                group=group,
                label=str(Group(group).label),
                free=places.free if places else None,
                reserved=places.reserved if places else 0,
                updated_at=places.updated_at if places else None,
                stale=bool(places and places.updated_at < stale_before),
                updated_by_role=roles.get(places.updated_by_id or 0, "") if places else "",
                days_unchanged=(
                    (today - timezone.localdate(places.updated_at)).days if places else None
                ),
            )
        )
    return rows


# --- the coordinator's choice of institution ------------------------------------------


def institutions_for_referral(case: Case) -> QuerySet[Institution]:
    """Active institutions of the right kind for the case, with the case group's free places.

    Grade-aware: only school types that take the wanted grade (no Gymnasium for Klasse 4).
    Annotated: ``free`` (None = no figure), ``places_updated_at``, ``is_sibling`` (a sibling
    is referred to or enrolled there), ``is_home`` (the child's district), ``is_near`` (the
    district or a neighbouring one), ``is_stale`` (figure older than the office's limit),
    ``declined_reason`` (the coded reason if the institution already declined this child;
    it stays listed, marked).
    """
    kinds = [k for k in InstitutionKind.values if target_for_kind(k) == case.target_type]
    if case.wanted_group:
        kinds = [k for k in kinds if k in kinds_for_group(case.wanted_group)]
    places = Places.objects.filter(institution=OuterRef("pk"), group=case.wanted_group)
    declined = Referral.objects.filter(
        institution=OuterRef("pk"), case_id=case.pk, state=ReferralState.DECLINED
    ).order_by("-answered_at", "-pk")
    sibling = Referral.objects.filter(
        institution=OuterRef("pk"), case__family_id=case.family_id, state__in=SIBLING_STATES
    ).exclude(case_id=case.pk)
    if case.district_id is not None:
        neighbours = District.objects.filter(neighbours__pk=case.district_id)
        near_ids = [case.district_id, *neighbours.values_list("pk", flat=True)]
        is_near: Any = Q(district_id__in=near_ids)
        is_home: Any = Q(district_id=case.district_id)
    else:
        is_near, is_home = Value(True), Value(False)
    stale_before = places_stale_before()
    return (
        Institution.objects.filter(is_active=True, kind__in=kinds)
        .select_related("district")
        .annotate(
            free=Subquery(places.values("free")[:1]),
            places_updated_at=Subquery(places.values("updated_at")[:1]),
            is_sibling=Exists(sibling),
            declined_reason=Subquery(declined.values("decline_reason")[:1]),
            is_near=ExpressionWrapper(is_near, output_field=BooleanField()),
            is_home=ExpressionWrapper(is_home, output_field=BooleanField()),
        )
        .annotate(
            is_stale=SqlCase(
                When(places_updated_at__lt=stale_before, then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            )
        )
        .order_by("-is_sibling", "-is_home", "name")
    )


def institutions_suggested_for(case: Case) -> QuerySet[Institution]:
    """The suggestion list: right kind, a free place in the wanted group, in or next to the
    child's district; siblings' institutions first (shown even without a free place)."""
    return (
        institutions_for_referral(case)
        .filter(Q(is_sibling=True) | Q(is_near=True, free__gt=0))  # type: ignore[misc]
        .order_by("-is_sibling", "-is_home", "-free", "name")
    )


# --- the case page's referral panel -----------------------------------------------------


def referrals_for_case_panel(case: Case) -> list[Referral]:
    """A case's referrals with institution and reminders, in a constant number of queries."""
    return list(
        case.referrals.select_related("institution", "created_by", "answered_by")  # type: ignore[attr-defined]
        .prefetch_related("reminders")
        .order_by("-created_at", "-pk")
    )


def referral_deadline(
    referral: Referral, *, expiry_days: int | None = None, calendars: Calendars | None = None
) -> dt.date | None:
    """The day a pending referral expires without an answer, in its institution's calendar
    (school holidays for a school, closing days for a Kita).

    The same count the reminder sweep uses (``referrals.calendars.answer_deadline``):
    ``expiry_days`` working days after the referral (from OfficeSettings unless given).
    Pass ``calendars`` when computing many deadlines (one query for all).
    """
    if referral.state != ReferralState.PENDING:
        return None
    if expiry_days is None:
        expiry_days = OfficeSettings.current().expiry_days
    calendars = calendars or Calendars.load()
    return answer_deadline(
        referral, expiry_days=expiry_days, calendar=calendars.for_referral(referral)
    )


def latest_referral_for_case(case: Case) -> Referral | None:
    """The case's most recent referral with its institution (the case page's next step)."""
    return (
        Referral.objects.filter(case_id=case.pk)
        .select_related("institution")
        .only(
            "id", "case_id", "state", "created_at", "answered_at", "closed_at", "start_date",
            "decline_reason", "institution__name",
        )
        .order_by("-created_at", "-pk")
        .first()
    )  # fmt: skip
