"""Every write to a case: register, edit, transition, assign, share, link siblings.

Each service is keyword-only, runs in one transaction, checks who may act, writes the
``CaseEvent`` history and the audit log, and queues side effects on commit. No ``.save()``
of a Case anywhere else.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransition, TransitionNotAllowed, has_transition_perm
from guardian.shortcuts import assign_perm, remove_perm

from cases.models import (
    DERIVED_FIELDS,
    EDITABLE_FIELDS,
    FIELDS_SET_BY,
    Case,
    CaseEvent,
    CaseReferenceCounter,
    CaseUserObjectPermission,
    CloseReason,
    Family,
    FollowUp,
    Guardian,
    JournalEntry,
    State,
    WorkItemSeen,
    may_work_case,
    transition_refusal,
)
from cases.rules import require_valid_case_data
from coordination.audit import audit_log
from coordination.exceptions import ConcurrentChange, DomainError, NotAllowed, TransitionRefused
from coordination.fields import encrypted_fields
from coordination.models import Team, User
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

# The transitions that carry data from the service call (the others take none).
TRANSITION_ARGUMENTS = {"close": ("reason",)}


def _next_reference(year: int) -> str:
    from django.conf import settings

    counter, _created = CaseReferenceCounter.objects.select_for_update().get_or_create(year=year)
    counter.last += 1
    counter.save(update_fields=["last"])
    return f"{settings.CASE_REFERENCE_PREFIX}-{year}-{counter.last:05d}"


def case_record_event(
    *,
    case: Case,
    by: User | None,
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
    encrypted = {f.name for f in encrypted_fields(Case)}
    return [n for n in names if n in encrypted]


def _values(case: Case) -> dict[str, Any]:
    """The case's data as the rules (cases/rules.py) and the form see it."""
    return {name: getattr(case, name) for name in EDITABLE_FIELDS if name != "district"}


def _create_case(
    *,
    by: User,
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
    # The form's rules hold for every caller (an import, a script), with the same messages.
    require_valid_case_data(_values(case), today=today)
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
    by: User,
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


class StaleVersion(ConcurrentChange):
    default_message = _(
        "This case was changed by someone else in the meantime. Your input is kept below: "
        "compare it with the current data (open the case in a new tab) and save again."
    )


# The plain columns a transition may change (``FIELDS_SET_BY`` next to the transitions).
TRANSITION_FIELDS = tuple(
    dict.fromkeys(("state", "state_changed_at", *(f for fs in FIELDS_SET_BY.values() for f in fs)))
)


def _lock(case: Case) -> Case:
    """The case row, locked and read afresh inside the caller's transaction."""
    return Case.objects.select_for_update(of=("self",)).get(pk=case.pk)


def _sync(case: Case, fresh: Case, fields: Iterable[str]) -> None:
    """Bring the caller's (stale) object up to date with what was saved."""
    if case is fresh:
        return
    fields = list(fields)
    if fields:
        case.refresh_from_db(fields=fields)


def _save_transition(case: Case, before: dict[str, Any]) -> list[str]:
    """Save exactly the columns the transition changed (never the whole row read earlier).

    ``ConcurrentTransitionMixin`` still puts the old state into the UPDATE's WHERE clause.
    """
    changed = [name for name in TRANSITION_FIELDS if getattr(case, name) != before[name]]
    if any(name in EDITABLE_FIELDS for name in changed):
        case.version += 1  # e.g. reopening resets "without a place since": an edit must see it
        changed.append("version")
    fields = [*changed, "updated_at"]
    case.save(update_fields=fields)
    return fields


def _snapshot(case: Case) -> dict[str, Any]:
    return {name: getattr(case, name) for name in TRANSITION_FIELDS}


# The transitions that bring an imported case from intake to the state the office's list
# names (``case_import``); "referred" and "placed" need a referral and cannot be imported.
IMPORT_PATHS: dict[str, tuple[str, ...]] = {
    State.INTAKE: (),
    State.CLARIFICATION: ("start_clarification",),
    State.READY: ("start_clarification", "mark_ready"),
    State.ON_HOLD: ("hold",),
    State.CLOSED: ("close",),
}


def may_import_cases(by: User, team: Team | None) -> bool:
    """Administrators into any team; coordinators into their own team only."""
    if team is None:
        return False
    return is_administrator(by) or (is_coordinator(by) and by.team_id == team.pk)


@transaction.atomic
def case_import(
    *,
    by: User,
    team: Team,
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
    by: User,
    data: dict[str, Any],
    expected_version: int,
) -> list[str]:
    """Change a case's data; returns the names of the fields that changed.

    ``expected_version`` is the ``Case.version`` the form was shown with: a save over someone
    else's newer change is refused (``StaleVersion``) instead of silently overwriting it. The
    row is locked and read afresh, and only the changed columns are written, so a state change
    at the same time is kept.
    """
    if not may_work_case(case, by):
        raise NotAllowed()
    locked = _lock(case)
    if not may_work_case(locked, by):
        raise NotAllowed()
    if locked.erased_at is not None:
        raise DomainError(_("The personal data of this case has been erased."))
    if isinstance(expected_version, bool) or not isinstance(expected_version, int):
        raise DomainError(_("The form has no valid version. Reload the page and try again."))
    if locked.version != expected_version:
        raise StaleVersion()
    changed = _apply(locked, data)
    if not changed:
        return []
    require_valid_case_data(_values(locked), today=timezone.localdate())
    locked.refresh_blind_indexes()
    locked.version += 1
    fields = [*changed, *DERIVED_FIELDS, "version", "updated_at"]
    try:
        locked.save(update_fields=fields)
    except ConcurrentTransition as exc:  # pragma: no cover - the row is locked
        raise ConcurrentChange() from exc
    _sync(case, locked, fields)
    case_record_event(case=locked, by=by, kind=CaseEvent.Kind.EDITED, fields=changed)
    audit_log(actor=by, action="case.update", obj=locked, fields=changed)
    return changed


def case_transition(
    *,
    case: Case,
    by: User,
    transition: str,
    reason: str = "",
    comment: str = "",
    expected_state: str | None = None,
) -> Case:
    """Take one of the coordinator's transitions, guarded by django-fsm-2 and logged.

    The row is locked and read afresh; only the columns the transition changes are saved, so
    a concurrent edit of the case's data survives. Returns the fresh case (the given object is
    brought up to date too). A refused transition (unknown, forged or not allowed now) is
    audit-logged after the transaction has rolled back, so the log entry survives the refusal.
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
    by: User,
    transition: str,
    reason: str,
    comment: str,
    expected_state: str | None,
) -> Case:
    if transition not in USER_TRANSITIONS:
        raise TransitionRefused()
    if not may_work_case(case, by):
        raise TransitionRefused(_transition_refusal(case, transition, by))
    locked = _lock(case)
    # The state the user saw (the form's), else the state of the object the caller read.
    if (expected_state if expected_state is not None else case.state) != locked.state:
        raise ConcurrentChange()
    method = getattr(locked, transition)
    if not has_transition_perm(method, by):
        raise TransitionRefused(_transition_refusal(locked, transition, by))
    if transition in REASON_REQUIRED and not (reason or comment).strip():
        raise DomainError(_("Please give a reason."))
    if transition == "close" and reason not in CloseReason.values:
        raise DomainError(_("Please choose a reason for closing."))
    if reason and reason not in CloseReason.values:
        # Only coded reasons are stored in plain text; free text goes to the encrypted comment.
        comment, reason = f"{reason}\n{comment}".strip(), ""
    from_state = locked.state
    before = _snapshot(locked)
    arguments = {"reason": reason}
    try:
        method(**{name: arguments[name] for name in TRANSITION_ARGUMENTS.get(transition, ())})
        locked.state_changed_at = timezone.now()
        fields = _save_transition(locked, before)
    except ConcurrentTransition as exc:
        raise ConcurrentChange() from exc
    except TransitionNotAllowed as exc:
        raise TransitionRefused() from exc
    _sync(case, locked, fields)
    case_record_event(
        case=locked, by=by, kind=CaseEvent.Kind.TRANSITION, transition=transition,
        from_state=from_state, to_state=locked.state, reason=reason, comment=comment,
    )  # fmt: skip
    detail = {"transition": transition, "from": from_state, "to": locked.state}
    audit_log(actor=by, action="case.transition", obj=locked, detail=detail)
    return locked


def _transition_refusal(case: Case, transition: str, by: User) -> Any:
    """The refusal message: not the user's case, else what the transition's conditions say
    (each condition in cases/models.py carries its message)."""
    if not may_work_case(case, by):
        return _("You are not allowed to work on this case.")
    return transition_refusal(case, transition)


def case_driven_transition(
    *,
    case: Case,
    by: User | None,
    transition: str,
    comment: str = "",
    data: dict[str, Any] | None = None,
) -> None:
    """A transition driven by a referral (refer, referral_ended, place), with the data the
    transition takes (``place``: ``on``, the first day attended).

    The referral service has already checked who may act; this runs inside its transaction.
    The case row is locked and read afresh (the caller's object is brought up to date) and
    only the columns the transition changes are saved.
    """
    if transition not in {"refer", "referral_ended", "place"}:
        raise TransitionRefused()
    locked = _lock(case)
    if locked.state != case.state:
        raise ConcurrentChange()
    from_state = locked.state
    before = _snapshot(locked)
    try:
        getattr(locked, transition)(**(data or {}))
        locked.state_changed_at = timezone.now()
        fields = _save_transition(locked, before)
    except ConcurrentTransition as exc:
        raise ConcurrentChange() from exc
    except TransitionNotAllowed as exc:
        raise TransitionRefused() from exc
    _sync(case, locked, fields)
    case_record_event(
        case=locked, by=by, kind=CaseEvent.Kind.TRANSITION, transition=transition,
        from_state=from_state, to_state=locked.state, comment=comment,
    )  # fmt: skip


# --- ownership: assign within the team, transfer to another team, share ----------------------


def may_manage_case(case: Case, user: User) -> bool:
    """A coordinator of the team that owns the case (sharing lets others work it, not manage
    it: assigning, transferring and sharing stay with the owning team)."""
    return (
        is_coordinator(user)
        and user.team_id is not None
        and case.team_id is not None
        and case.team_id == user.team_id
    )


@transaction.atomic
def case_assign(*, cases: Iterable[Case], by: User, coordinator: User) -> int:
    """Assign cases to a coordinator of their own team; also in bulk (all or nothing).

    Only a coordinator of the owning team assigns, and only within that team: moving a case
    to another team is ``case_transfer``. Returns the number of cases that changed.
    """
    cases = list(cases)
    foreign = sorted(c.reference for c in cases if not may_manage_case(c, by))
    if foreign:
        raise NotAllowed(
            _(
                "Only cases of your own team can be assigned. Not your team's: %(references)s. "
                "Nothing was assigned."
            )
            % {"references": ", ".join(foreign)}
        )
    if (
        not is_coordinator(coordinator)
        or not coordinator.is_active
        or coordinator.team_id is None
        or coordinator.team_id != by.team_id
    ):
        raise DomainError(_("Cases can only be assigned to an active coordinator of your team."))
    count = 0
    for case in cases:
        locked = _lock(case)
        if not may_manage_case(locked, by):  # transferred away in the meantime
            raise ConcurrentChange()
        if locked.coordinator_id == coordinator.pk:
            continue
        old = locked.coordinator
        locked.coordinator = coordinator
        locked.save(update_fields=["coordinator", "updated_at"])
        _sync(case, locked, ["coordinator", "updated_at"])
        case_record_event(case=locked, by=by, kind=CaseEvent.Kind.ASSIGNED,
                          comment=f"{old or '-'} → {coordinator}")  # fmt: skip
        audit_log(actor=by, action="case.assign", obj=locked,
                  detail={"to": coordinator.username})  # fmt: skip
        count += 1
    return count


@transaction.atomic
def case_transfer(*, case: Case, by: User, team: Team | None, reason: str) -> Case:
    """Hand a case over to another team, with a reason (recorded in the history and the log).

    Only a coordinator of the owning team transfers. The new team owns the case from now on
    and assigns it within the team (the case has no coordinator until then); every sharing
    of the case ends, so the old team keeps no access unless the new team shares it again.
    """
    reason = " ".join((reason or "").split())
    if not may_manage_case(case, by):
        raise NotAllowed(_("Only a coordinator of the team that owns the case can transfer it."))
    if not reason:
        raise DomainError(_("Please give a reason for the transfer."))
    locked = _lock(case)
    if not may_manage_case(locked, by):
        raise ConcurrentChange()
    if team is None or team.pk == locked.team_id:
        raise DomainError(_("Choose another team."))
    old_team = locked.team
    locked.team_id = team.pk
    locked.coordinator = None
    locked.save(update_fields=["team", "coordinator", "updated_at"])
    shared = list(
        CaseUserObjectPermission.objects.filter(content_object=locked).select_related("user")
    )
    CaseUserObjectPermission.objects.filter(content_object=locked).delete()
    _sync(case, locked, ["team", "coordinator", "updated_at"])
    case_record_event(
        case=locked, by=by, kind=CaseEvent.Kind.TRANSFERRED, reason="",
        comment=str(
            _("Transferred from %(old)s to %(new)s: %(reason)s")
            % {"old": old_team.name, "new": team.name, "reason": reason}
        ),
    )  # fmt: skip
    audit_log(
        actor=by, action="case.transfer", obj=locked,
        detail={"from_team": old_team.pk, "to_team": team.pk,
                "sharing_ended": sorted({p.user.username for p in shared})},
    )  # fmt: skip
    return locked


@transaction.atomic
def case_share(*, case: Case, by: User, with_user: User) -> None:
    """Share a case with a coordinator of another team (guardian object permission).

    Only the owning team shares: a coordinator the case was shared with works it, but does
    not pass it on.
    """
    if not may_manage_case(case, by):
        raise NotAllowed(_("Only a coordinator of the team that owns the case can share it."))
    if not is_coordinator(with_user):
        raise DomainError(_("Cases can only be shared with coordinators."))
    assign_perm("cases.work_case", with_user, case)
    case_record_event(case=case, by=by, kind=CaseEvent.Kind.SHARED, comment=str(with_user))
    audit_log(actor=by, action="case.share", obj=case, detail={"with": with_user.username})


@transaction.atomic
def case_unshare(*, case: Case, by: User, with_user: User) -> None:
    """End a sharing: the owning team, or the colleague it was shared with (for themselves)."""
    if not (may_manage_case(case, by) or (may_work_case(case, by) and with_user == by)):
        raise NotAllowed()
    remove_perm("cases.work_case", with_user, case)
    case_record_event(case=case, by=by, kind=CaseEvent.Kind.UNSHARED, comment=str(with_user))
    audit_log(actor=by, action="case.unshare", obj=case, detail={"with": with_user.username})


@transaction.atomic
def case_link_sibling(*, case: Case, by: User, sibling: Case) -> None:
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
def guardian_save(*, case: Case, by: User, data: dict[str, Any], guardian: Guardian | None = None):
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


# --- merging a duplicate ----------------------------------------------------------------------


@transaction.atomic
def case_merge(*, survivor: Case, duplicate: Case, by: User) -> dict[str, int]:
    """Merge ``duplicate`` into ``survivor``: its history, family contacts (the families are
    linked) and every row an upper app keeps for it (referrals, ...) move to the survivor;
    the duplicate is closed as "duplicate". Both histories and the audit log say so.

    Only a coordinator of the team that owns both cases may merge (sharing is not enough:
    the merge moves data between records). An open referral of the duplicate blocks it.
    Returns the number of moved rows per model.
    """
    if not (is_coordinator(by) and by.team_id is not None):
        raise NotAllowed()
    if by.team_id != survivor.team_id or by.team_id != duplicate.team_id:
        raise NotAllowed(_("Only a coordinator of the team that owns both cases can merge them."))
    if survivor.pk == duplicate.pk:
        raise DomainError(_("A case cannot be merged into itself."))
    # Lock both rows in a fixed order (two merges of the same pair cannot deadlock), re-read.
    locked = {
        c.pk: c for c in Case.objects.select_for_update().filter(pk__in=[survivor.pk, duplicate.pk])
        .order_by("pk")
    }  # fmt: skip
    survivor, duplicate = locked[survivor.pk], locked[duplicate.pk]
    if survivor.erased_at is not None or duplicate.erased_at is not None:
        raise DomainError(_("The personal data of this case has been erased."))
    if duplicate.state == State.CLOSED:
        raise DomainError(
            _("%(reference)s is already closed; reopen it first if it should be merged.")
            % {"reference": duplicate.reference}
        )
    if duplicate.has_open_referral():
        raise DomainError(
            _("%(reference)s has an open referral. Withdraw it first, then merge.")
            % {"reference": duplicate.reference}
        )
    moved = _move_case_rows(source=duplicate, target=survivor)
    if duplicate.family_id != survivor.family_id:
        # Link the families as for siblings: contacts and the other children move along.
        old_family = duplicate.family_id
        moved["cases.case (siblings)"] = (
            Case.objects.filter(family_id=old_family).exclude(pk=duplicate.pk)
            .update(family_id=survivor.family_id)
        )  # fmt: skip
        moved["cases.guardian"] = Guardian.objects.filter(family_id=old_family).update(
            family_id=survivor.family_id
        )
        duplicate.family_id = survivor.family_id
        Case.objects.filter(pk=duplicate.pk).update(family_id=survivor.family_id)
        Family.objects.filter(pk=old_family).delete()
    from_state = duplicate.state
    before = _snapshot(duplicate)
    try:
        duplicate.close(reason=CloseReason.DUPLICATE)
        duplicate.state_changed_at = timezone.now()
        _save_transition(duplicate, before)
    except ConcurrentTransition as exc:
        raise ConcurrentChange() from exc
    except TransitionNotAllowed as exc:
        raise TransitionRefused() from exc
    case_record_event(
        case=duplicate, by=by, kind=CaseEvent.Kind.TRANSITION, transition="close",
        from_state=from_state, to_state=duplicate.state, reason=CloseReason.DUPLICATE,
        comment=str(_("Merged into %(reference)s.") % {"reference": survivor.reference}),
    )  # fmt: skip
    case_record_event(
        case=survivor, by=by, kind=CaseEvent.Kind.MERGED,
        comment=str(_("%(reference)s merged into this case.") % {"reference": duplicate.reference}),
    )  # fmt: skip
    for case, other in ((survivor, duplicate), (duplicate, survivor)):
        audit_log(actor=by, action="case.merge", obj=case,
                  detail={"survivor": survivor.reference, "duplicate": duplicate.reference,
                          "other": other.reference, "moved": moved})  # fmt: skip
    return moved


def _move_case_rows(*, source: Case, target: Case) -> dict[str, int]:
    """Point every row that belongs to ``source`` at ``target``: the history and whatever the
    apps above ``cases`` keep per case (referrals), found through the model's relations, so
    ``cases`` needs no import of them (as erasure in ``cases/retention.py``).

    Sharing (guardian's object permissions) is not moved: a colleague the duplicate was
    shared with does not gain the survivor.
    """
    moved: dict[str, int] = {}
    for rel in Case._meta.related_objects:
        model = rel.related_model
        if model is CaseUserObjectPermission or not rel.field.concrete or rel.many_to_many:
            continue
        if model is WorkItemSeen:
            # "Marked seen" belongs to the duplicate's items; moved it could collide with the
            # survivor's own marks (one per user, case and key).
            model._default_manager.filter(case_id=source.pk).delete()
            continue
        if rel.one_to_one:  # pragma: no cover - none today; a second row would collide
            continue
        count = model._default_manager.filter(**{rel.field.name: source.pk}).update(
            **{rel.field.name: target.pk}
        )
        moved[model._meta.label_lower] = count
    return moved


# --- follow-ups (Wiedervorlage), the case journal, work-queue items marked seen -------------
# (issue 17, docs/working-day.md)

WORK_ITEM_KEY = re.compile(r"^[a-z0-9_:.-]{1,60}$")


def _require_worker(case: Case, by: Any) -> None:
    if not may_work_case(case, by):
        raise NotAllowed()
    if case.erased_at is not None:
        raise DomainError(_("The personal data of this case has been erased."))


def _followup_owner(case: Case, by: Any, for_team: bool) -> dict[str, Any]:
    if for_team:
        return {"for_user": None, "for_team_id": case.team_id}
    return {"for_user": by, "for_team_id": None}


def _followup_locked(followup: FollowUp) -> FollowUp:
    locked = (
        FollowUp.objects.select_for_update(of=("self",)).select_related("case").get(pk=followup.pk)
    )
    if locked.state != FollowUp.State.OPEN:
        raise ConcurrentChange(_("This follow-up was already closed in the meantime."))
    return locked


def _followup_history(followup: FollowUp, by: Any, what: str) -> None:
    # The reason stays in the follow-up (encrypted, erased with the case); the history line
    # says what happened and when it is due, so the history never holds the text twice.
    case_record_event(
        case=followup.case, by=by, kind=CaseEvent.Kind.FOLLOWUP, transition=what,
        comment=followup.due_on.isoformat(),
    )  # fmt: skip
    audit_log(
        actor=by, action=f"followup.{what}", obj=followup.case,
        fields=["followup.reason"] if what == "created" else [],
        detail={"followup": followup.pk, "due_on": followup.due_on.isoformat()},
    )  # fmt: skip


@transaction.atomic
def followup_create(
    *, case: Case, by: Any, due_on: dt.date, reason: str, for_team: bool = False
) -> FollowUp:
    """Set a follow-up on a case for oneself or for the case's team (due date not past)."""
    _require_worker(case, by)
    if due_on < timezone.localdate():
        raise DomainError(_("The follow-up date cannot be in the past."))
    if not reason.strip():
        raise DomainError(_("Please say in a few words what is to be followed up."))
    followup = FollowUp.objects.create(
        case=case, due_on=due_on, reason=reason.strip(), created_by=by,
        **_followup_owner(case, by, for_team),
    )  # fmt: skip
    _followup_history(followup, by, "created")
    return followup


def _followup_close(followup: FollowUp, by: Any, state: str) -> FollowUp:
    locked = _followup_locked(followup)
    _require_worker(locked.case, by)
    locked.state = state
    locked.closed_at = timezone.now()
    locked.closed_by = by
    locked.save(update_fields=["state", "closed_at", "closed_by"])
    return locked


@transaction.atomic
def followup_complete(*, followup: FollowUp, by: Any) -> FollowUp:
    """Mark a follow-up as done; it stays in the case's history."""
    locked = _followup_close(followup, by, FollowUp.State.DONE)
    _followup_history(locked, by, "done")
    return locked


@transaction.atomic
def followup_cancel(*, followup: FollowUp, by: Any) -> FollowUp:
    """Cancel a follow-up that is no longer needed; it stays in the case's history."""
    locked = _followup_close(followup, by, FollowUp.State.CANCELLED)
    _followup_history(locked, by, "cancelled")
    return locked


@transaction.atomic
def followup_postpone(*, followup: FollowUp, by: Any, due_on: dt.date) -> FollowUp:
    """Move a follow-up to a later date: the old one is kept as "postponed" and points at
    the new one (same reason, same person or team). Returns the new follow-up."""
    if due_on < timezone.localdate():
        raise DomainError(_("The follow-up date cannot be in the past."))
    if due_on <= followup.due_on:
        raise DomainError(_("A postponed follow-up needs a later date than before."))
    locked = _followup_close(followup, by, FollowUp.State.POSTPONED)
    new = FollowUp.objects.create(
        case=locked.case, due_on=due_on, reason=locked.reason, created_by=by,
        for_user_id=locked.for_user_id, for_team_id=locked.for_team_id,
    )  # fmt: skip
    locked.replaced_by = new
    locked.save(update_fields=["replaced_by"])
    _followup_history(new, by, "postponed")
    return new


@transaction.atomic
def journal_add(
    *,
    case: Case,
    by: Any,
    at: dt.datetime,
    kind: str,
    with_whom: str,
    text: str,
    interpreter: bool = False,
    interpreter_language: str = "",
) -> JournalEntry:
    """Record a contact on a case. The journal is append-only (no edit, no delete): a
    mistake is corrected by a further entry."""
    _require_worker(case, by)
    if at > timezone.now() + dt.timedelta(minutes=5):
        raise DomainError(_("A contact cannot be recorded for a time in the future."))
    if kind not in JournalEntry.Kind.values or with_whom not in JournalEntry.WithWhom.values:
        raise DomainError(_("Please choose from the list."))
    if not text.strip():
        raise DomainError(_("Please write down what was discussed."))
    if kind == JournalEntry.Kind.INTERPRETED:
        interpreter = True
    language = interpreter_language.strip() if interpreter else ""
    entry = JournalEntry(
        case=case, at=at, kind=kind, with_whom=with_whom, interpreter=interpreter,
        text=text.strip(), created_by=by,
    )  # fmt: skip
    entry.interpreter_language = language or None  # type: ignore[assignment]
    entry.save()
    audit_log(
        actor=by, action="journal.add", obj=case,
        fields=["journal.text", *(["journal.interpreter_language"] if language else [])],
        detail={"entry": entry.pk, "kind": kind},
    )  # fmt: skip
    return entry


def work_item_mark_seen(*, case: Case, by: Any, key: str) -> None:
    """Take one item of the case out of the user's work queue (until its key changes)."""
    if not may_work_case(case, by):
        raise NotAllowed()
    if not WORK_ITEM_KEY.match(key) or key == WorkItemSeen.LOOKED:
        raise DomainError(_("This item cannot be marked as seen."))
    WorkItemSeen.objects.update_or_create(
        user=by, case=case, key=key, defaults={"seen_at": timezone.now()}
    )


def case_looked_at(*, case: Case, by: Any) -> None:
    """Record that the user opened the case page ("new since I last looked")."""
    WorkItemSeen.objects.update_or_create(
        user=by, case=case, key=WorkItemSeen.LOOKED, defaults={"seen_at": timezone.now()}
    )


__all__ = [
    "EDITABLE_FIELDS",
    "USER_TRANSITIONS",
    "WORK_ITEM_KEY",
    "State",
    "case_assign",
    "case_driven_transition",
    "case_import",
    "case_link_sibling",
    "case_looked_at",
    "case_merge",
    "case_record_event",
    "case_register",
    "case_share",
    "case_transfer",
    "case_transition",
    "case_unshare",
    "case_update",
    "followup_cancel",
    "followup_complete",
    "followup_create",
    "followup_postpone",
    "guardian_save",
    "journal_add",
    "may_manage_case",
    "work_item_mark_seen",
]
