"""Every write to referrals and free places.

Each service locks the rows it changes (``select_for_update``), re-checks the state it was
shown, takes the django-fsm-2 transition, moves the case along, writes history and audit,
and writes the e-mail to the other side into the outbox (sent after the commit).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransition, TransitionNotAllowed, has_transition_perm

from cases.models import Case, CaseEvent, Group, State, groups_for_target, may_work_case
from cases.services import case_driven_transition, case_record_event
from coordination.audit import audit_log
from coordination.exceptions import (
    ConcurrentChange,
    DomainError,
    NoFreePlace,
    NotAllowed,
    TransitionRefused,
)
from coordination.models import User
from coordination.roles import is_administrator, is_institution_staff
from referrals.models import (
    FIELDS_SET_BY,
    DeclineReason,
    Institution,
    Places,
    Referral,
    ReferralState,
    kind_takes_group,
)

T = TypeVar("T")


class WaitlistConfirmationNeeded(DomainError):
    default_message = _(
        "This institution reports no free place in this grade or age group. Confirm that you "
        "want to refer anyway (waiting list) and add a comment."
    )


def _notify(kind: str, referral_id: int) -> None:
    """Write the e-mail to the other side into the outbox, in this transaction: the worker
    sends it after the commit (a broker that is down only delays it)."""
    from referrals.mails import notification_enqueue

    notification_enqueue(kind=kind, referral_id=referral_id)


def _lock(referral: Referral) -> Referral:
    """Lock the referral row and check nobody changed it since it was shown."""
    # Lock only the referral row: joined case and institution rows stay free for others.
    locked = (
        Referral.objects.select_for_update(of=("self",))
        .select_related("case", "institution")
        .get(pk=referral.pk)
    )
    if locked.state != referral.state:
        raise ConcurrentChange()
    return locked


def _lock_case(case: Case) -> Case:
    locked = Case.objects.select_for_update().get(pk=case.pk)
    if locked.state != case.state:
        raise ConcurrentChange()
    return locked


def _atomic_logging_refusals(func: Callable[..., T]) -> Callable[..., T]:
    """``transaction.atomic`` that writes the audit row of a refused transition afterwards.

    Inside the service's transaction the row would be rolled back with everything else.
    """
    atomic_func = transaction.atomic(func)

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return atomic_func(*args, **kwargs)
        except TransitionRefused as exc:
            audit = getattr(exc, "audit", None)
            if audit is not None:
                audit_log(**audit)
            raise

    return wrapper


def _require_perm(referral: Referral, method_name: str, by: User | None) -> None:
    """Refuse (and log) a transition the user may not take in the referral's state."""
    method = getattr(referral, method_name)
    if by is not None and not has_transition_perm(method, by):
        refused = TransitionRefused()
        # Logged by _atomic_logging_refusals once the transaction has rolled back.
        refused.audit = {  # type: ignore[attr-defined]
            "actor": by, "action": "referral.transition_refused", "obj": referral,
            "case_reference": referral.case.reference,
            "detail": {"transition": method_name, "state": referral.state},
        }  # fmt: skip
        raise refused


def _take(referral: Referral, method_name: str, actor: User | None, **data: Any) -> str:
    """Take the transition with its data and save exactly the columns it sets."""
    method = getattr(referral, method_name)
    _require_perm(referral, method_name, actor)
    from_state = referral.state
    try:
        method(**data)
        referral.save(update_fields=["state", *FIELDS_SET_BY[method_name]])
    except ConcurrentTransition as exc:
        raise ConcurrentChange() from exc
    except TransitionNotAllowed as exc:
        raise TransitionRefused() from exc
    return from_state


def _history(
    referral: Referral, by: User | None, what: str, reason: str = "", comment: str = ""
) -> None:
    case_record_event(
        case=referral.case, by=by, kind=CaseEvent.Kind.REFERRAL, transition=what,
        reason=reason, comment=comment,
    )  # fmt: skip
    audit_log(actor=by, action=f"referral.{what}", obj=referral,
              case_reference=referral.case.reference,
              detail={"institution": referral.institution_id, "state": referral.state})  # fmt: skip


def _release_place(referral: Referral) -> None:
    if not referral.place_reserved:
        return
    places = (
        Places.objects.select_for_update()
        .filter(institution_id=referral.institution_id, group=referral.group)
        .first()
    )
    if places is not None:  # an administrator may have removed the group meanwhile
        places.free += 1
        places.reserved = max(places.reserved - 1, 0)
        places.save(update_fields=["free", "reserved"])
    referral.place_reserved = False
    Referral.objects.filter(pk=referral.pk).update(place_reserved=False)


@_atomic_logging_refusals
def referral_create(
    *,
    case: Case,
    institution: Institution,
    by: User,
    group: str = "",
    message: str = "",
    confirm_waitlist: bool = False,
) -> Referral:
    """Refer a case that looks for a place to an institution of the right kind."""
    if not may_work_case(case, by):
        raise NotAllowed()
    case = _lock_case(case)
    if case.state != State.READY:
        raise TransitionRefused(_("Only a case that is looking for a place can be referred."))
    if not institution.is_active:
        raise DomainError(_("This institution is not active."))
    group = group or case.wanted_group
    if institution.target_type != case.target_type:
        raise DomainError(_("This institution does not match the case's target."))
    if group not in groups_for_target(case.target_type):
        raise DomainError(_("This grade or age group does not match the case's target."))
    if not kind_takes_group(institution.kind, group):
        raise DomainError(
            _("A %(kind)s does not take children of this grade or age group (%(group)s).")
            % {"kind": institution.get_kind_display(), "group": Group(group).label}
        )
    free = (
        Places.objects.filter(institution=institution, group=group)
        .values_list("free", flat=True)
        .first()
    )
    waitlist = not free
    if waitlist and not (confirm_waitlist and message.strip()):
        raise WaitlistConfirmationNeeded()
    referral = Referral(
        case=case, institution=institution, group=group, created_by=by,
        waitlist=waitlist, message=message,
    )  # fmt: skip
    try:
        with transaction.atomic():
            referral.save()
    except IntegrityError as exc:
        raise DomainError(_("This case already has an open referral.")) from exc
    case_driven_transition(case=case, by=by, transition="refer", comment=institution.name)
    _history(referral, by, "created", comment=message)
    _notify("created", referral.pk)
    return referral


@_atomic_logging_refusals
def referral_accept(*, referral: Referral, by: User, start_date: dt.date | None = None) -> Referral:
    """The institution accepts; one free place of the group is reserved (never overbooked)."""
    referral = _lock(referral)
    if not is_institution_staff(by):
        raise NotAllowed()
    # Who may answer and whether the state allows it come before the free-place check, so
    # a declined referral or a stranger gets "not possible", never "no free place".
    _require_perm(referral, "accept", by)
    if start_date is not None and start_date < timezone.localdate(referral.created_at):
        raise DomainError(_("The agreed start date cannot be before the referral."))
    places = (
        Places.objects.select_for_update()
        .filter(institution_id=referral.institution_id, group=referral.group)
        .first()
    )
    if places is None or places.free < 1:
        raise NoFreePlace(
            _("There is no free place recorded for this group. Update your free places first.")
        )
    _take(referral, "accept", by, by=by, start_date=start_date)
    places.free -= 1
    places.reserved += 1
    places.save(update_fields=["free", "reserved"])
    _history(referral, by, "accepted")
    _notify("accepted", referral.pk)
    return referral


@_atomic_logging_refusals
def referral_decline(*, referral: Referral, by: User, reason: str, comment: str = "") -> Referral:
    """The institution declines with a coded reason; the case looks for a place again."""
    if reason not in DeclineReason.values:
        raise DomainError(_("Please choose a reason."))
    if reason == DeclineReason.OTHER and not comment.strip():
        raise DomainError(_("Please explain the reason in a comment."))
    referral = _lock(referral)
    _take(referral, "decline", by, by=by, reason=reason, comment=comment)
    _case_back_to_ready(referral, by, comment=str(DeclineReason(reason).label))
    _history(referral, by, "declined", reason=reason, comment=comment)
    _notify("declined", referral.pk)
    return referral


@_atomic_logging_refusals
def referral_enrol(*, referral: Referral, by: User, first_day: dt.date) -> Referral:
    """The institution confirms the first day attended; the case becomes placed."""
    today = timezone.localdate()
    if first_day > today:
        raise DomainError(_("The first day attended cannot be in the future."))
    referral = _lock(referral)
    if first_day < timezone.localdate(referral.created_at):
        raise DomainError(_("The first day attended cannot be before the referral."))
    reserved = referral.place_reserved
    _take(referral, "enrol", by, first_day=first_day)
    places = (
        Places.objects.select_for_update()
        .filter(institution_id=referral.institution_id, group=referral.group)
        .first()
    )
    if reserved and places is not None:
        places.reserved = max(places.reserved - 1, 0)
        places.save(update_fields=["reserved"])
    case = _lock_case(referral.case)
    case_driven_transition(
        case=case, by=by, transition="place", comment=referral.institution.name,
        data={"on": first_day},
    )  # fmt: skip
    referral.case = case
    _history(referral, by, "enrolled")
    _notify("enrolled", referral.pk)
    return referral


@_atomic_logging_refusals
def referral_no_show(*, referral: Referral, by: User, comment: str = "") -> Referral:
    """Accepted, but the child never came: the place is released, the case looks again."""
    referral = _lock(referral)
    _take(referral, "report_no_show", by)
    _release_place(referral)
    _case_back_to_ready(referral, by, comment=str(_("did not start")))
    _history(referral, by, "no_show", comment=comment)
    _notify("no_show", referral.pk)
    return referral


@_atomic_logging_refusals
def referral_withdraw(*, referral: Referral, by: User, comment: str = "") -> Referral:
    """The coordinator withdraws an open referral; a reserved place is released."""
    if not comment.strip():
        raise DomainError(_("Please give a reason."))
    referral = _lock(referral)
    _take(referral, "withdraw", by)
    _release_place(referral)
    _case_back_to_ready(referral, by, comment=str(_("withdrawn")))
    _history(referral, by, "withdrawn", comment=comment)
    _notify("withdrawn", referral.pk)
    return referral


@_atomic_logging_refusals
def referral_expire(*, referral: Referral) -> Referral:
    """No answer by the deadline (called by the reminder sweep): the case looks again."""
    referral = _lock(referral)
    _take(referral, "expire", None)
    _case_back_to_ready(referral, None, comment=str(_("expired")))
    _history(referral, None, "expired")
    return referral


def _case_back_to_ready(referral: Referral, by: User | None, comment: str) -> None:
    case = Case.objects.select_for_update().get(pk=referral.case_id)
    if case.state == State.REFERRED:
        case_driven_transition(case=case, by=by, transition="referral_ended", comment=comment)
    referral.case = case


@transaction.atomic
def places_update(*, institution: Institution, by: User, counts: dict[str, int | None]) -> None:
    """The institution's staff set their free places per group (the date is recorded).

    A group given as None is left as it is.
    """
    if not (is_institution_staff(by) and by.has_perm("referrals.staff_institution", institution)):
        raise NotAllowed()
    allowed = set(groups_for_target(institution.target_type))
    for group, free in counts.items():
        if group not in allowed:
            raise DomainError(_("This grade or age group does not fit this institution."))
        if free is not None and (not isinstance(free, int) or free < 0 or free > 999):
            raise DomainError(_("Free places must be between 0 and 999."))
    now = timezone.now()
    for group, free in counts.items():
        if free is None:
            continue
        places, _created = Places.objects.select_for_update().get_or_create(
            institution=institution, group=group
        )
        places.free = free
        places.updated_at = now
        places.updated_by = by
        places.save(update_fields=["free", "updated_at", "updated_by"])
    audit_log(actor=by, action="places.update", obj=institution,
              detail={"counts": {k: v for k, v in counts.items() if v is not None}})  # fmt: skip


@transaction.atomic
def institution_import(
    *, by: Any, data: dict[str, Any], district_name: str, places: dict[str, int]
) -> tuple[Institution, bool]:
    """Create or update an institution (found by its name) with its district (created if
    new) and free places: the import of an office's lists, for administrators only.

    Returns the institution and whether it was created.
    """
    from coordination.models import District

    if not is_administrator(by):
        raise NotAllowed()
    district, _district_created = District.objects.get_or_create(name=district_name)
    fields = {k: v for k, v in data.items() if k != "name"}
    institution = Institution.objects.select_for_update().filter(name=data["name"]).first()
    created = institution is None
    if institution is None:
        institution = Institution(name=data["name"])
    for name, value in fields.items():
        setattr(institution, name, value)
    institution.district = district
    institution.full_clean(validate_unique=False)
    institution.save()
    allowed = set(groups_for_target(institution.target_type))
    if any(group not in allowed for group in places):
        raise DomainError(_("This grade or age group does not fit this institution."))
    now = timezone.now()
    for group, free in places.items():
        Places.objects.update_or_create(
            institution=institution, group=group,
            defaults={"free": free, "updated_at": now, "updated_by": by},
        )  # fmt: skip
    audit_log(actor=by, action="institution.import", obj=institution,
              detail={"created": created, "places": places})  # fmt: skip
    return institution, created


__all__ = [
    "ReferralState",
    "WaitlistConfirmationNeeded",
    "institution_import",
    "places_update",
    "referral_accept",
    "referral_create",
    "referral_decline",
    "referral_enrol",
    "referral_expire",
    "referral_no_show",
    "referral_withdraw",
]
