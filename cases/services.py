"""Every write to a case: register, edit, transition, assign, share, link siblings.

Each service is keyword-only, runs in one transaction, checks who may act, writes the
``CaseEvent`` history and the audit log, and queues side effects on commit. No ``.save()``
of a Case anywhere else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransition, TransitionNotAllowed, has_transition_perm
from guardian.shortcuts import assign_perm, remove_perm

from cases.models import (
    Case,
    CaseEvent,
    CaseReferenceCounter,
    CloseReason,
    Family,
    Guardian,
    State,
    may_work_case,
)
from coordination.audit import audit_log
from coordination.exceptions import ConcurrentChange, DomainError, NotAllowed, TransitionRefused
from coordination.fields import EncryptedField
from coordination.roles import is_administrator, is_coordinator

# Transitions a coordinator takes from the case page; the others are driven by referrals.
USER_TRANSITIONS: dict[str, Any] = {
    "start_clarification": _("Start clarification"),
    "mark_ready": _("Ready: look for a place"),
    "back_to_clarification": _("Back to clarification"),
    "hold": _("Put on hold"),
    "resume": _("Resume"),
    "close": _("Close case"),
    "reopen": _("Reopen"),
}
# Transitions that need a reason (a coded one for closing).
REASON_REQUIRED = {"hold", "close", "back_to_clarification", "reopen"}

EDITABLE_FIELDS = (
    "target_type", "wanted_group", "district", "waiting_since",
    "given_name", "family_name", "birth_date", "gender", "nationality", "languages",
    "interpreter_needed", "interpreter_language", "address", "arrival_germany",
    "arrival_city", "residence_status", "school_years", "last_grade",
    "literate_own_script", "german_level", "health_notes", "support_needed",
    "support_notes", "measles_proof", "school_health_check", "notes",
)  # fmt: skip


def _next_reference(year: int) -> str:
    from django.conf import settings

    counter, _created = CaseReferenceCounter.objects.select_for_update().get_or_create(year=year)
    counter.last += 1
    counter.save(update_fields=["last"])
    return f"{settings.CASE_REFERENCE_PREFIX}-{year}-{counter.last:05d}"


def case_record_event(
    *,
    case: Case,
    by: Any,
    kind: str,
    transition: str = "",
    from_state: str = "",
    to_state: str = "",
    reason: str = "",
    comment: str = "",
    fields: Sequence[str] = (),
) -> CaseEvent:
    """Append one line to the case history (used by cases and referrals services)."""
    return CaseEvent.objects.create(
        case=case,
        actor=by if getattr(by, "is_authenticated", False) else None,
        kind=kind,
        transition=transition,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        comment=comment,
        fields=list(fields),
    )


def _apply(case: Case, data: dict[str, Any]) -> list[str]:
    changed = []
    for name in EDITABLE_FIELDS:
        if name not in data:
            continue
        new = data[name]
        attr = "district_id" if name == "district" else name
        if name == "district":
            new = getattr(new, "pk", new)
        if getattr(case, attr) != new:
            setattr(case, attr, new)
            changed.append(name)
    return changed


def _personal(names: Iterable[str]) -> list[str]:
    encrypted = {f.name for f in Case._meta.concrete_fields if isinstance(f, EncryptedField)}
    return [n for n in names if n in encrypted]


def _create_case(
    *,
    by: Any,
    team_id: int,
    coordinator: Any,
    data: dict[str, Any],
    guardians: Sequence[dict[str, Any]],
    sibling_of: Case | None,
    comment: str = "",
) -> Case:
    """The registration itself (reference, blind indexes, contacts, first history line)."""
    today = timezone.localdate()
    family = sibling_of.family if sibling_of is not None else Family.objects.create()
    case = Case(team_id=team_id, coordinator=coordinator, family=family, waiting_since=today)
    _apply(case, data)
    if not data.get("waiting_since"):
        arrival = data.get("arrival_city")
        case.waiting_since = arrival if isinstance(arrival, dt.date) and arrival <= today else today
    case.reference = _next_reference(today.year)
    case.refresh_blind_indexes()
    case.save()
    for g in guardians:
        Guardian.objects.create(family=family, **g)
    case_record_event(
        case=case, by=by, kind=CaseEvent.Kind.CREATED, to_state=case.state, comment=comment
    )
    return case


@transaction.atomic
def case_register(
    *,
    by: Any,
    data: dict[str, Any],
    guardians: Sequence[dict[str, Any]] = (),
    sibling_of: Case | None = None,
) -> Case:
    """Register a newly arrived child; the case belongs to the registering coordinator's team."""
    if not is_coordinator(by) or by.team_id is None:
        raise NotAllowed(_("Only a coordinator with a team can register a case."))
    if sibling_of is not None and not may_work_case(sibling_of, by):
        raise NotAllowed(_("You may not link to that case."))
    case = _create_case(
        by=by, team_id=by.team_id, coordinator=by, data=data, guardians=guardians,
        sibling_of=sibling_of,
    )  # fmt: skip
    if sibling_of is not None:
        case_record_event(case=sibling_of, by=by, kind=CaseEvent.Kind.SIBLING, comment="")
    audit_log(actor=by, action="case.create", obj=case, fields=_personal(data))
    return case


# The transitions that bring an imported case from intake to the state the office's list
# names (``case_import``); "referred" and "placed" need a referral and cannot be imported.
IMPORT_PATHS: dict[str, tuple[str, ...]] = {
    State.INTAKE: (),
    State.CLARIFICATION: ("start_clarification",),
    State.READY: ("start_clarification", "mark_ready"),
    State.ON_HOLD: ("hold",),
    State.CLOSED: ("close",),
}


def may_import_cases(by: Any, team: Any) -> bool:
    """Administrators into any team; coordinators into their own team only."""
    if team is None:
        return False
    return is_administrator(by) or (is_coordinator(by) and by.team_id == team.pk)


@transaction.atomic
def case_import(
    *,
    by: Any,
    team: Any,
    data: dict[str, Any],
    guardians: Sequence[dict[str, Any]] = (),
    state: str = State.INTAKE,
    close_reason: str = "",
    source: str = "",
    audit_detail: dict[str, Any] | None = None,
) -> Case:
    """Register a case from an office's imported list for ``team``, brought to ``state``.

    Like ``case_register`` (blind indexes, contacts, history, audit), for a coordinator of the
    team or an administrator (then without an assigned coordinator). ``source`` is the history
    comment saying where the case came from; ``audit_detail`` holds no personal value.
    """
    if not may_import_cases(by, team):
        raise NotAllowed(_("You may not import cases into this team."))
    if state not in IMPORT_PATHS:
        raise DomainError(_("Cases can only be imported as new, in clarification, looking for a "
                            "place, on hold or closed."))  # fmt: skip
    coordinator = by if is_coordinator(by) and by.team_id == team.pk else None
    case = _create_case(
        by=by, team_id=team.pk, coordinator=coordinator, data=data, guardians=guardians,
        sibling_of=None, comment=source,
    )  # fmt: skip
    for name in IMPORT_PATHS[state]:
        from_state = case.state
        try:
            if name == "close":
                case.close(reason=close_reason or CloseReason.OTHER)
            else:
                getattr(case, name)()
        except TransitionNotAllowed as exc:
            if name == "mark_ready":
                raise DomainError(_(
                    "A case can only look for a place once target, birth date, district and "
                    "wanted grade or age group are recorded."
                )) from exc  # fmt: skip
            raise TransitionRefused() from exc
        case.state_changed_at = timezone.now()
        case.save()
        case_record_event(
            case=case, by=by, kind=CaseEvent.Kind.TRANSITION, transition=name,
            from_state=from_state, to_state=case.state, reason=case.close_reason,
        )  # fmt: skip
    audit_log(actor=by, action="case.import", obj=case, fields=_personal(data),
              detail=audit_detail or {})  # fmt: skip
    return case


@transaction.atomic
def case_update(
    *,
    case: Case,
    by: Any,
    data: dict[str, Any],
    expected_updated_at: dt.datetime | None = None,
) -> list[str]:
    """Change a case's data; returns the names of the fields that changed.

    ``expected_updated_at`` is the version the form was shown with: a save over someone
    else's newer change is refused (``ConcurrentChange``) instead of silently overwriting it.
    """
    if not may_work_case(case, by):
        raise NotAllowed()
    if case.erased_at is not None:
        raise DomainError(_("The personal data of this case has been erased."))
    if expected_updated_at is not None:
        current = (
            Case.objects.select_for_update()
            .filter(pk=case.pk)
            .values_list("updated_at", flat=True)
            .first()
        )
        if current != expected_updated_at:
            raise ConcurrentChange()
    changed = _apply(case, data)
    if not changed:
        return []
    case.refresh_blind_indexes()
    try:
        case.save()
    except ConcurrentTransition as exc:
        raise ConcurrentChange() from exc
    case_record_event(case=case, by=by, kind=CaseEvent.Kind.EDITED, fields=changed)
    audit_log(actor=by, action="case.update", obj=case, fields=changed)
    return changed


def case_transition(
    *,
    case: Case,
    by: Any,
    transition: str,
    reason: str = "",
    comment: str = "",
    expected_state: str | None = None,
) -> Case:
    """Take one of the coordinator's transitions, guarded by django-fsm-2 and logged.

    A refused transition (unknown, forged or not allowed now) is audit-logged after the
    transaction has rolled back, so the log entry survives the refusal.
    """
    state = case.state
    try:
        return _case_transition(
            case=case, by=by, transition=transition, reason=reason, comment=comment,
            expected_state=expected_state,
        )  # fmt: skip
    except TransitionRefused:
        audit_log(actor=by, action="case.transition_refused", obj=case,
                  detail={"transition": str(transition)[:40], "state": state})  # fmt: skip
        raise


@transaction.atomic
def _case_transition(
    *,
    case: Case,
    by: Any,
    transition: str,
    reason: str,
    comment: str,
    expected_state: str | None,
) -> Case:
    if transition not in USER_TRANSITIONS:
        raise TransitionRefused()
    if expected_state is not None and expected_state != case.state:
        raise ConcurrentChange()
    method = getattr(case, transition)
    if not has_transition_perm(method, by):
        raise TransitionRefused(_transition_refusal(case, transition, by))
    if transition in REASON_REQUIRED and not (reason or comment).strip():
        raise DomainError(_("Please give a reason."))
    if transition == "close" and reason not in CloseReason.values:
        raise DomainError(_("Please choose a reason for closing."))
    if reason and reason not in CloseReason.values:
        # Only coded reasons are stored in plain text; free text goes to the encrypted comment.
        comment, reason = f"{reason}\n{comment}".strip(), ""
    from_state = case.state
    try:
        if transition == "close":
            case.close(reason=reason)
        else:
            method()
        case.state_changed_at = timezone.now()
        case.save()
    except ConcurrentTransition as exc:
        raise ConcurrentChange() from exc
    except TransitionNotAllowed as exc:
        raise TransitionRefused() from exc
    case_record_event(
        case=case, by=by, kind=CaseEvent.Kind.TRANSITION, transition=transition,
        from_state=from_state, to_state=case.state, reason=reason, comment=comment,
    )  # fmt: skip
    audit_log(actor=by, action="case.transition", obj=case,
              detail={"transition": transition, "from": from_state, "to": case.state})  # fmt: skip
    return case


def _transition_refusal(case: Case, transition: str, by: Any) -> Any:
    if not may_work_case(case, by):
        return _("You are not allowed to work on this case.")
    if transition == "mark_ready":
        return _(
            "A case can only look for a place once target, birth date, district and wanted "
            "grade or age group are recorded."
        )
    if transition in {"close", "hold"} and case.has_open_referral():
        return _("Withdraw the open referral first.")
    if transition == "reopen" and case.erased_at is not None:
        return _("The personal data of this case has been erased; it cannot be reopened.")
    return _("This step is not possible in the current state.")


def case_driven_transition(*, case: Case, by: Any, transition: str, comment: str = "") -> None:
    """A transition driven by a referral (refer, referral_ended, place).

    The referral service has already checked who may act; this runs inside its transaction.
    """
    if transition not in {"refer", "referral_ended", "place"}:
        raise TransitionRefused()
    from_state = case.state
    try:
        getattr(case, transition)()
        case.state_changed_at = timezone.now()
        case.save()
    except ConcurrentTransition as exc:
        raise ConcurrentChange() from exc
    except TransitionNotAllowed as exc:
        raise TransitionRefused() from exc
    case_record_event(
        case=case, by=by, kind=CaseEvent.Kind.TRANSITION, transition=transition,
        from_state=from_state, to_state=case.state, comment=comment,
    )  # fmt: skip


@transaction.atomic
def case_assign(*, cases: Iterable[Case], by: Any, coordinator: Any) -> int:
    """(Re)assign cases to a coordinator of their team; also in bulk. Returns the count."""
    if not is_coordinator(coordinator) or coordinator.team_id is None:
        raise DomainError(_("Cases can only be assigned to a coordinator with a team."))
    count = 0
    for case in cases:
        if not may_work_case(case, by):
            raise NotAllowed()
        if case.coordinator_id == coordinator.pk and case.team_id == coordinator.team_id:
            continue
        old = case.coordinator
        Case.objects.filter(pk=case.pk).update(
            coordinator=coordinator, team_id=coordinator.team_id, updated_at=timezone.now()
        )
        case.coordinator, case.team_id = coordinator, coordinator.team_id
        case_record_event(case=case, by=by, kind=CaseEvent.Kind.ASSIGNED,
                          comment=f"{old or '-'} → {coordinator}")  # fmt: skip
        audit_log(actor=by, action="case.assign", obj=case,
                  detail={"to": coordinator.username})  # fmt: skip
        count += 1
    return count


@transaction.atomic
def case_share(*, case: Case, by: Any, with_user: Any) -> None:
    """Share a case with a coordinator of another team (guardian object permission)."""
    if not may_work_case(case, by):
        raise NotAllowed()
    if not is_coordinator(with_user):
        raise DomainError(_("Cases can only be shared with coordinators."))
    assign_perm("cases.work_case", with_user, case)
    case_record_event(case=case, by=by, kind=CaseEvent.Kind.SHARED, comment=str(with_user))
    audit_log(actor=by, action="case.share", obj=case, detail={"with": with_user.username})


@transaction.atomic
def case_unshare(*, case: Case, by: Any, with_user: Any) -> None:
    if not may_work_case(case, by):
        raise NotAllowed()
    remove_perm("cases.work_case", with_user, case)
    case_record_event(case=case, by=by, kind=CaseEvent.Kind.UNSHARED, comment=str(with_user))
    audit_log(actor=by, action="case.unshare", obj=case, detail={"with": with_user.username})


@transaction.atomic
def case_link_sibling(*, case: Case, by: Any, sibling: Case) -> None:
    """Put two cases into one family (their guardians are merged)."""
    if not (may_work_case(case, by) and may_work_case(sibling, by)):
        raise NotAllowed()
    if case.family_id == sibling.family_id:
        return
    old_family = sibling.family_id
    Case.objects.filter(family_id=old_family).update(family_id=case.family_id)
    Guardian.objects.filter(family_id=old_family).update(family_id=case.family_id)
    Family.objects.filter(pk=old_family).delete()
    for c in (case, sibling):
        case_record_event(case=c, by=by, kind=CaseEvent.Kind.SIBLING)
    audit_log(actor=by, action="case.link_sibling", obj=case,
              detail={"sibling": sibling.reference})  # fmt: skip


@transaction.atomic
def guardian_save(*, case: Case, by: Any, data: dict[str, Any], guardian: Guardian | None = None):
    """Add or change a family contact of the case's family."""
    if not may_work_case(case, by):
        raise NotAllowed()
    guardian = guardian or Guardian(family_id=case.family_id)
    if guardian.family_id != case.family_id:
        raise NotAllowed()
    for key, value in data.items():
        setattr(guardian, key, value)
    try:
        guardian.save()
    except IntegrityError as exc:  # pragma: no cover - defensive
        raise DomainError() from exc
    case_record_event(case=case, by=by, kind=CaseEvent.Kind.EDITED, fields=["guardians"])
    audit_log(actor=by, action="case.update", obj=case, fields=["guardians"])
    return guardian


__all__ = [
    "EDITABLE_FIELDS",
    "USER_TRANSITIONS",
    "State",
    "case_assign",
    "case_driven_transition",
    "case_import",
    "case_link_sibling",
    "case_record_event",
    "case_register",
    "case_share",
    "case_transition",
    "case_unshare",
    "case_update",
    "guardian_save",
]
