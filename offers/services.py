"""Every write to providers' offers and to registrations of cases for offers.

Each service runs in ``transaction.atomic()``, checks who may act, locks the rows it changes,
takes the django-fsm-2 transition, writes a line into the case history (``CaseEvent`` of
kind "offer") and an audit row, and writes its e-mail into the outbox in the same
transaction. A registration never moves the case's own state machine: it is not the school
or Kita placement (docs/adr/0010-offers-app.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from functools import wraps
from typing import Any, TypeVar

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import override
from django_fsm import ConcurrentTransition, TransitionNotAllowed, has_transition_perm

from cases.models import Case, CaseEvent, may_work_case
from cases.services import case_record_event
from coordination.audit import audit_log
from coordination.exceptions import (
    ConcurrentChange,
    DomainError,
    NoFreePlace,
    NotAllowed,
    TransitionRefused,
)
from coordination.outbox import mail_enqueue
from coordination.roles import is_administrator, is_coordinator
from offers.models import (
    Offer,
    OfferRegistration,
    Provider,
    RegistrationDeclineReason,
    RegistrationState,
    Weekday,
    is_provider_staff,
    provider_has_login,
)

T = TypeVar("T")
MAX_TEXT = 2000

# The fields of an offer its editor may set (``offer_save``).
OFFER_FIELDS = (
    "provider",
    "kind",
    "title",
    "description",
    "languages",
    "min_age",
    "max_age",
    "grades",
    "district",
    "address",
    "accessible",
    "starts_on",
    "ends_on",
    "weekdays",
    "time_from",
    "time_to",
    "schedule_note",
    "is_free",
    "fee",
    "but_eligible",
    "free_places",
    "registration_way",
    "registration_note",
    "contact_email",
    "contact_phone",
    "is_active",
)

# The history line of each step (what the case page's timeline shows).
STEP_LABELS = {
    "registered": _("registered"),
    "confirmed": _("confirmed"),
    "declined": _("declined"),
    "withdrawn": _("withdrawn"),
    "started": _("attendance started"),
    "ended": _("attendance ended"),
    "dropped_out": _("dropped out"),
}


def may_edit_offers(user: Any) -> bool:
    """Coordinators and administrators keep the whole catalogue."""
    return is_coordinator(user) or is_administrator(user)


def may_edit_offer(user: Any, offer: Offer | None, provider: Provider | None) -> bool:
    """The catalogue's editors, or the staff of the offer's provider (its own offers only)."""
    if may_edit_offers(user):
        return True
    if provider is None or not is_provider_staff(user, provider):
        return False
    return offer is None or offer.provider_id == provider.pk


def _atomic_logging_refusals(func: Callable[..., T]) -> Callable[..., T]:
    """``transaction.atomic`` that writes the audit row of a refused step afterwards."""
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


# --- the catalogue -----------------------------------------------------------------------


def _check_offer(data: dict[str, Any]) -> None:
    """The rules across fields (each field's own format is the form's job)."""
    min_age, max_age = data.get("min_age"), data.get("max_age")
    if min_age is not None and max_age is not None and min_age > max_age:
        raise DomainError(_("The lowest age cannot be above the highest age."))
    starts, ends = data.get("starts_on"), data.get("ends_on")
    if starts and ends and starts > ends:
        raise DomainError(_("The last day cannot be before the first day."))
    time_from, time_to = data.get("time_from"), data.get("time_to")
    if time_from and time_to and time_from >= time_to:
        raise DomainError(_("The end time must be after the start time."))
    if not data.get("is_free"):
        fee = data.get("fee")
        if fee is None or Decimal(fee) <= 0:
            raise DomainError(_("Give the fee, or mark the offer as free of charge."))
    if any(d not in Weekday.values for d in data.get("weekdays") or []):
        raise DomainError(_("Unknown weekday."))


@transaction.atomic
def offer_save(*, by: Any, data: dict[str, Any], offer: Offer | None = None) -> Offer:
    """Create or change an offer: coordinators and administrators any, provider staff their
    own provider's (they cannot move an offer to another provider)."""
    provider = data.get("provider") or (offer.provider if offer else None)
    if not may_edit_offer(by, offer, provider):
        raise NotAllowed()
    if offer is not None and not may_edit_offers(by) and provider != offer.provider:
        raise NotAllowed()
    _check_offer(data)
    created = offer is None
    offer = Offer() if offer is None else Offer.objects.select_for_update().get(pk=offer.pk)
    before_places = offer.free_places
    for name in OFFER_FIELDS:
        if name in data:
            setattr(offer, name, data[name])
    if offer.is_free:
        offer.fee = None
        offer.but_eligible = False
    now = timezone.now()
    offer.updated_at, offer.updated_by = now, by
    if created or offer.free_places != before_places:
        offer.places_updated_at = now
    offer.save()
    audit_log(actor=by, action="offer.create" if created else "offer.update", obj=offer,
              detail={"provider": offer.provider_id, "active": offer.is_active})  # fmt: skip
    return offer


@transaction.atomic
def offer_places_update(*, offer: Offer, by: Any, free_places: int | None) -> Offer:
    """The provider (or an editor) sets the free places of an offer (None: no limit)."""
    if not may_edit_offer(by, offer, offer.provider):
        raise NotAllowed()
    if free_places is not None and not (0 <= free_places <= 9999):
        raise DomainError(_("Free places must be between 0 and 9999."))
    offer = Offer.objects.select_for_update().get(pk=offer.pk)
    offer.free_places = free_places
    offer.places_updated_at = offer.updated_at = timezone.now()
    offer.updated_by = by
    offer.save(update_fields=["free_places", "places_updated_at", "updated_at", "updated_by"])
    audit_log(actor=by, action="offer.places", obj=offer, detail={"free": free_places})
    return offer


# --- registrations ------------------------------------------------------------------------


def _lock(registration: OfferRegistration) -> OfferRegistration:
    """Lock the registration row and check nobody changed it since it was shown."""
    locked = (
        OfferRegistration.objects.select_for_update(of=("self",))
        .select_related("case", "offer", "offer__provider")
        .get(pk=registration.pk)
    )
    if locked.state != registration.state:
        raise ConcurrentChange()
    return locked


def _require_perm(registration: OfferRegistration, method_name: str, by: Any) -> None:
    if not has_transition_perm(getattr(registration, method_name), by):
        refused = TransitionRefused()
        refused.audit = {  # type: ignore[attr-defined]
            "actor": by, "action": "offer_registration.transition_refused", "obj": registration,
            "case_reference": registration.case.reference,
            "detail": {"transition": method_name, "state": registration.state},
        }  # fmt: skip
        raise refused


def _take(registration: OfferRegistration, method_name: str, by: Any) -> None:
    _require_perm(registration, method_name, by)
    try:
        getattr(registration, method_name)()
        registration.save()
    except ConcurrentTransition as exc:
        raise ConcurrentChange() from exc
    except TransitionNotAllowed as exc:
        raise TransitionRefused() from exc


def _history(
    registration: OfferRegistration, by: Any, step: str, reason: str = "", comment: str = ""
) -> None:
    """One line in the case's timeline and one audit row."""
    with override(settings.LANGUAGE_CODE):
        line = f"{registration.offer.title}: {STEP_LABELS[step]}"
    case_record_event(
        case=registration.case, by=by, kind=CaseEvent.Kind.OFFER, transition=f"offer_{step}",
        reason=reason, comment=f"{line}\n{comment}".strip() if comment.strip() else line,
    )  # fmt: skip
    audit_log(actor=by, action=f"offer_registration.{step}", obj=registration,
              case_reference=registration.case.reference,
              detail={"offer": registration.offer_id, "state": registration.state})  # fmt: skip


def _link(name: str, *args: Any) -> str:
    return settings.SITE_URL.rstrip("/") + reverse(name, args=args)


def _mail_provider(registration: OfferRegistration) -> None:
    """Tell a provider with a login that a child was registered (reference and link only)."""
    offer = registration.offer
    if not provider_has_login(offer.provider):
        return  # the coordinator contacts the provider and records its answer
    reference = registration.case.reference
    with override(settings.LANGUAGE_CODE):
        subject = str(_("New registration for %(offer)s (%(reference)s)")) % {
            "offer": offer.title, "reference": reference,
        }  # fmt: skip
        body = str(
            _(
                "A child (case %(reference)s) has been registered for your offer "
                "“%(offer)s”.\n\nPlease confirm or decline the registration in Ankommen:\n"
                "%(link)s\n"
            )
        ) % {"reference": reference, "offer": offer.title,
             "link": _link("offers:registration", registration.pk)}  # fmt: skip
    mail_enqueue(
        kind="offer.registered", to=offer.email, subject=subject, body=body,
        case_reference=reference, object_type="offers.offerregistration",
        object_id=str(registration.pk),
    )  # fmt: skip


def _mail_coordinator(registration: OfferRegistration, step: str) -> None:
    """Tell the case's coordinator (or the team mailbox) what the provider answered."""
    case = registration.case
    coordinator = case.coordinator
    to = (coordinator.email if coordinator is not None else "") or case.team.mailbox
    with override(settings.LANGUAGE_CODE):
        subject = str(_("%(offer)s: registration %(step)s (%(reference)s)")) % {
            "offer": registration.offer.title, "step": STEP_LABELS[step],
            "reference": case.reference,
        }  # fmt: skip
        body = str(_("The provider has answered for case %(reference)s:\n%(link)s\n")) % {
            "reference": case.reference, "link": _link("cases:detail", case.pk),
        }  # fmt: skip
    mail_enqueue(
        kind=f"offer.{step}", to=to, subject=subject, body=body, case_reference=case.reference,
        object_type="offers.offerregistration", object_id=str(registration.pk),
    )  # fmt: skip


@_atomic_logging_refusals
def registration_create(
    *, case: Case, offer: Offer, by: Any, message: str = ""
) -> OfferRegistration:
    """Register a case for an offer, in any state of an open case (waiting included)."""
    if not may_work_case(case, by):
        raise NotAllowed()
    if case.state == "closed" or case.erased_at is not None:
        raise DomainError(_("A closed case cannot be registered for an offer."))
    offer = Offer.objects.select_related("provider").get(pk=offer.pk)
    if not offer.is_active or not offer.provider.is_active:
        raise DomainError(_("This offer is not active."))
    if len(message) > MAX_TEXT:
        raise DomainError(_("The message is too long."))
    registration = OfferRegistration(case=case, offer=offer, created_by=by, message=message)
    try:
        with transaction.atomic():
            registration.save()
    except IntegrityError as exc:
        raise DomainError(_("This child is already registered for this offer.")) from exc
    _history(registration, by, "registered", comment=message)
    _mail_provider(registration)
    return registration


def _answered_by(registration: OfferRegistration, by: Any) -> dict[str, Any]:
    by_coordinator = not is_provider_staff(by, registration.offer.provider)
    registration.answered_by = by
    registration.answer_recorded_by_coordinator = by_coordinator
    return {"answered_by": by, "answer_recorded_by_coordinator": by_coordinator}


@_atomic_logging_refusals
def registration_confirm(
    *, registration: OfferRegistration, by: Any, comment: str = ""
) -> OfferRegistration:
    """The provider (or the coordinator for a provider without login) confirms; a counted
    free place is taken under lock, so confirmations never overbook."""
    registration = _lock(registration)
    _require_perm(registration, "confirm", by)
    offer = Offer.objects.select_for_update().get(pk=registration.offer_id)
    if offer.free_places is not None and offer.free_places < 1:
        raise NoFreePlace(_("This offer has no free place recorded. Update its free places first."))
    _take(registration, "confirm", by)
    extra = _answered_by(registration, by)
    if offer.free_places is not None:
        offer.free_places -= 1
        offer.places_updated_at = timezone.now()
        offer.save(update_fields=["free_places", "places_updated_at"])
        extra["place_taken"] = registration.place_taken = True
    registration.answer_comment = comment
    OfferRegistration.objects.filter(pk=registration.pk).update(**extra)
    registration.save(update_fields=["answer_comment"])
    _history(registration, by, "confirmed", comment=comment)
    if not registration.answer_recorded_by_coordinator:
        _mail_coordinator(registration, "confirmed")
    return registration


@_atomic_logging_refusals
def registration_decline(
    *, registration: OfferRegistration, by: Any, reason: str, comment: str = ""
) -> OfferRegistration:
    """The provider (or the coordinator for it) declines with a coded reason."""
    if reason not in RegistrationDeclineReason.values:
        raise DomainError(_("Please choose a reason."))
    if reason == RegistrationDeclineReason.OTHER and not comment.strip():
        raise DomainError(_("Please explain the reason in a comment."))
    registration = _lock(registration)
    _take(registration, "decline", by)
    extra = _answered_by(registration, by)
    registration.decline_reason = reason
    registration.answer_comment = comment
    OfferRegistration.objects.filter(pk=registration.pk).update(decline_reason=reason, **extra)
    registration.save(update_fields=["answer_comment"])
    _history(registration, by, "declined", reason=reason, comment=comment)
    if not registration.answer_recorded_by_coordinator:
        _mail_coordinator(registration, "declined")
    return registration


def _give_back_place(registration: OfferRegistration) -> None:
    if not registration.place_taken:
        return
    offer = Offer.objects.select_for_update().get(pk=registration.offer_id)
    if offer.free_places is not None:
        offer.free_places += 1
        offer.save(update_fields=["free_places"])
    registration.place_taken = False
    OfferRegistration.objects.filter(pk=registration.pk).update(place_taken=False)


@_atomic_logging_refusals
def registration_withdraw(
    *, registration: OfferRegistration, by: Any, comment: str = ""
) -> OfferRegistration:
    """The coordinator withdraws a requested or confirmed registration (a place comes back)."""
    registration = _lock(registration)
    _take(registration, "withdraw", by)
    _give_back_place(registration)
    _history(registration, by, "withdrawn", comment=comment)
    return registration


def _attendance(
    registration: OfferRegistration, by: Any, method: str, step: str, day: dt.date
) -> OfferRegistration:
    if day > timezone.localdate():
        raise DomainError(_("The date cannot be in the future."))
    registration = _lock(registration)
    if day < timezone.localdate(registration.created_at):
        raise DomainError(_("The date cannot be before the registration."))
    if step != "started" and registration.started_on and day < registration.started_on:
        raise DomainError(_("The last day cannot be before the first day attended."))
    _take(registration, method, by)
    field = "started_on" if step == "started" else "ended_on"
    setattr(registration, field, day)
    OfferRegistration.objects.filter(pk=registration.pk).update(**{field: day})
    _history(registration, by, step)
    return registration


@_atomic_logging_refusals
def registration_start(
    *, registration: OfferRegistration, by: Any, first_day: dt.date
) -> OfferRegistration:
    """The child attended for the first time."""
    return _attendance(registration, by, "start", "started", first_day)


@_atomic_logging_refusals
def registration_end(
    *, registration: OfferRegistration, by: Any, last_day: dt.date
) -> OfferRegistration:
    """The child took part until the end (or until the last day)."""
    return _attendance(registration, by, "end", "ended", last_day)


@_atomic_logging_refusals
def registration_drop_out(
    *, registration: OfferRegistration, by: Any, last_day: dt.date
) -> OfferRegistration:
    """The child stopped coming before the end."""
    return _attendance(registration, by, "drop_out", "dropped_out", last_day)


__all__ = [
    "RegistrationState",
    "may_edit_offer",
    "may_edit_offers",
    "offer_places_update",
    "offer_save",
    "registration_confirm",
    "registration_create",
    "registration_decline",
    "registration_drop_out",
    "registration_end",
    "registration_start",
    "registration_withdraw",
]
