"""Every read of offers and registrations that depends on who asks, and the suggestions.

Coordinators (and administrators) see the whole catalogue and the registrations of the cases
they may work; provider staff see their providers' offers and the registrations for them,
with only the case fields they need (name, birth date, languages, interpreter needed); the
public page sees active offers and never a registration.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Case as SqlCase
from django.db.models import Exists, IntegerField, OuterRef, Q, QuerySet, Value, When
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext

from cases.models import WAITING_STATES, Case
from cases.selectors import cases_visible_to
from coordination.models import District
from coordination.roles import is_administrator, is_coordinator, is_institution_staff
from offers.models import (
    OPEN_REGISTRATION_STATES,
    Offer,
    OfferKind,
    OfferRegistration,
    Provider,
    ProviderUserObjectPermission,
    RegistrationState,
)

# What a provider may see of a case (the lead's brief): name, birth date, languages,
# interpreter needed. ``.only()`` keeps every other encrypted field from being decrypted.
PROVIDER_CASE_FIELDS = ("given_name", "family_name", "birth_date", "languages",
                        "interpreter_needed")  # fmt: skip
_CASE_PLAIN_FIELDS = ("reference", "state", "erased_at", "team", "coordinator")
_COORDINATOR_CONTACT = ("first_name", "last_name", "email", "phone")
_REGISTRATION_FIELDS = tuple(f.name for f in OfferRegistration._meta.concrete_fields)
# Waiting this long without a place puts German courses first among the suggestions.
LONG_WAIT_DAYS = 28
SUGGESTION_LIMIT = 6


# --- providers and the catalogue -----------------------------------------------------------


def providers_of(user: Any) -> QuerySet[Provider]:
    """The providers a staff member works for (guardian object permission)."""
    if not is_institution_staff(user):
        return Provider.objects.none()
    held = ProviderUserObjectPermission.objects.filter(
        content_object=OuterRef("pk"), user=user, permission__codename="staff_provider"
    )
    return Provider.objects.filter(Exists(held))


def providers_editable_by(user: Any) -> QuerySet[Provider]:
    if is_coordinator(user) or is_administrator(user):
        return Provider.objects.filter(is_active=True)
    return providers_of(user)


def offers_editable_by(user: Any) -> QuerySet[Offer]:
    """The catalogue as its editor sees it (inactive offers included)."""
    if is_coordinator(user) or is_administrator(user):
        qs = Offer.objects.all()
    elif is_institution_staff(user):
        qs = Offer.objects.filter(provider__in=providers_of(user))
    else:
        return Offer.objects.none()
    return qs.select_related("provider", "district").order_by("-is_active", "kind", "title", "pk")


def offer_get_for_editor(*, user: Any, pk: int | str) -> Offer:
    try:
        return offers_editable_by(user).get(pk=int(pk))
    except (Offer.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def offers_active() -> QuerySet[Offer]:
    """Active offers of active providers, not over yet: the public page's and the
    coordinator's choice."""
    today = timezone.localdate()
    return (
        Offer.objects.filter(is_active=True, provider__is_active=True)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=today))
        .select_related("provider", "district")
    )


# --- the public page ------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicFilters:
    kind: str = ""
    age: int | None = None
    district: int | None = None
    language: str = ""
    free_only: bool = False


def public_offers(filters: PublicFilters) -> list[Offer]:
    """Active offers matching the public page's filters (no personal data involved)."""
    qs = offers_active()
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.age is not None:
        qs = qs.filter(Q(min_age__isnull=True) | Q(min_age__lte=filters.age)).filter(
            Q(max_age__isnull=True) | Q(max_age__gte=filters.age)
        )
    if filters.district is not None:
        qs = qs.filter(district_id=filters.district)
    if filters.free_only:
        qs = qs.filter(Q(is_free=True) | Q(but_eligible=True))
    offers = list(qs.order_by("district__name", "kind", "title", "pk"))
    if filters.language:
        wanted = filters.language.casefold()
        # Languages are a short JSON list per offer: compared in Python (SQLite and
        # PostgreSQL alike, case-insensitively).
        offers = [o for o in offers if wanted in {x.casefold() for x in o.languages or []}]
    return offers


def public_languages() -> list[str]:
    """Every language spoken in an active offer, for the filter."""
    found: dict[str, str] = {}
    for languages in offers_active().values_list("languages", flat=True):
        for name in languages or []:
            found.setdefault(name.casefold(), name)
    return sorted(found.values(), key=str.casefold)


def public_districts() -> list[District]:
    """Districts that have an active offer."""
    ids = offers_active().values_list("district_id", flat=True)
    return list(District.objects.filter(pk__in=ids).order_by("name"))


# --- registrations ---------------------------------------------------------------------------


def registrations_for_provider(user: Any) -> QuerySet[OfferRegistration]:
    return OfferRegistration.objects.filter(offer__provider__in=providers_of(user))


def registrations_visible_to(user: Any) -> QuerySet[OfferRegistration]:
    """Coordinators: registrations of their cases. Staff: registrations for their providers."""
    if is_coordinator(user):
        return OfferRegistration.objects.filter(case__in=cases_visible_to(user))
    if is_institution_staff(user):
        return registrations_for_provider(user)
    return OfferRegistration.objects.none()


def registration_get_for_page(*, user: Any, pk: int | str) -> OfferRegistration:
    """One registration with only the case fields a provider may see (coordinators see the
    rest on the case page)."""
    case_fields = [f"case__{f}" for f in (*PROVIDER_CASE_FIELDS, *_CASE_PLAIN_FIELDS)]
    contact = [f"case__coordinator__{f}" for f in _COORDINATOR_CONTACT]
    try:
        return (
            registrations_visible_to(user)
            .select_related("case", "offer", "offer__provider", "case__coordinator", "case__team")
            .only(
                *_REGISTRATION_FIELDS,
                *case_fields,
                *contact,
                "case__team__name",
                "case__team__mailbox",
                "offer__title",
                "offer__kind",
                "offer__provider",
                "offer__free_places",
                "offer__provider__name",
                "offer__provider__email",
            )
            .get(pk=int(pk))
        )
    except (OfferRegistration.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def registration_page_fields() -> list[str]:
    """The case fields the registration page shows (recorded in the access log)."""
    return ["reference", *PROVIDER_CASE_FIELDS, "coordinator"]


def registrations_inbox(*, user: Any, show: str = "open") -> QuerySet[OfferRegistration]:
    """The provider inbox: requested first, then confirmed, then attending; oldest first.

    Only the case's reference and name are loaded (no other field is decrypted).
    """
    qs = registrations_for_provider(user)
    if show == "open":
        qs = qs.filter(state__in=OPEN_REGISTRATION_STATES)
    order = SqlCase(
        When(state=RegistrationState.REQUESTED, then=Value(0)),
        When(state=RegistrationState.CONFIRMED, then=Value(1)),
        When(state=RegistrationState.STARTED, then=Value(2)),
        default=Value(3),
        output_field=IntegerField(),
    )
    return (
        qs.select_related("case", "offer")
        .only(
            *_REGISTRATION_FIELDS,
            "case__reference",
            "case__state",
            "case__erased_at",
            "case__given_name",
            "case__family_name",
            "offer__title",
            "offer__kind",
        )
        .annotate(state_order=order)
        .order_by("state_order", "created_at", "pk")
    )


def registrations_for_case_panel(case: Case) -> list[OfferRegistration]:
    return list(
        OfferRegistration.objects.filter(case_id=case.pk)
        .select_related("offer", "offer__provider", "offer__district", "created_by", "answered_by")
        .order_by("-created_at", "-pk")
    )


def registrations_work_queue(*, user: Any, limit: int = 10) -> dict[str, Any]:
    """The coordinator's open registrations needing a step: requested (oldest first) and
    those whose provider has no login (the coordinator records the answer)."""
    if not is_coordinator(user):
        return {"waiting": [], "total": 0}
    no_login = ~Exists(
        ProviderUserObjectPermission.objects.filter(
            content_object=OuterRef("offer__provider"), permission__codename="staff_provider"
        )
    )
    qs = (
        registrations_visible_to(user)
        .filter(state=RegistrationState.REQUESTED)
        .select_related("case", "offer", "offer__provider")
        .only(
            *_REGISTRATION_FIELDS,
            "case__reference",
            "case__state",
            "case__erased_at",
            "case__given_name",
            "case__family_name",
            "offer__title",
            "offer__provider__name",
        )
        .annotate(coordinator_answers=no_login)
        .order_by("created_at", "pk")
    )
    return {"waiting": list(qs[:limit]), "total": qs.count()}


# --- suggestions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Suggestion:
    offer: Offer
    reasons: list[str]
    score: int


def _age_on(birth: dt.date | None, today: dt.date) -> int | None:
    if birth is None:
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def offers_suggested_for(case: Case, *, limit: int = SUGGESTION_LIMIT) -> list[Suggestion]:
    """Active offers that fit the child: age in range, a shared language, the same or a
    neighbouring district; German courses first after ``LONG_WAIT_DAYS`` without a place.

    ``case`` is the decrypted case of the case page (the birth date and languages are
    encrypted, so the fit is computed here in Python). Offers the child is registered for
    (open) are left out.
    """
    if case.erased_at is not None or case.state == "closed":
        return []
    today = timezone.localdate()
    # The birth date is an encrypted column: django-stubs sees text, the field gives a date.
    age = _age_on(case.birth_date, today)  # type: ignore[arg-type]
    languages = {str(x).casefold(): str(x) for x in case.languages or []}
    near: set[int] = set()
    if case.district_id is not None:
        near = {case.district_id}
        near |= set(
            District.objects.filter(neighbours__pk=case.district_id).values_list("pk", flat=True)
        )
    taken = set(
        OfferRegistration.objects.filter(
            case_id=case.pk, state__in=OPEN_REGISTRATION_STATES
        ).values_list("offer_id", flat=True)
    )
    days = case.days_without_place(today)
    long_wait = case.state in WAITING_STATES and days is not None and days >= LONG_WAIT_DAYS
    candidates = offers_active().exclude(pk__in=taken)
    if near:
        candidates = candidates.filter(district_id__in=near)
    found = []
    for offer in candidates:
        if not offer.fits_age(age):
            continue
        reasons = [gettext("age %(age)s") % {"age": age}]
        score = 0
        spoken = [
            languages[x.casefold()] for x in offer.languages or [] if x.casefold() in languages
        ]
        if spoken:
            reasons.append(gettext("speaks %(languages)s") % {"languages": ", ".join(spoken)})
            score += 2
        if offer.district_id == case.district_id:
            reasons.append(gettext("district %(name)s") % {"name": offer.district.name})
            score += 2
        elif near:
            reasons.append(
                gettext("neighbouring district %(name)s") % {"name": offer.district.name}
            )
            score += 1
        if offer.kind == OfferKind.GERMAN_COURSE and long_wait:
            reasons.append(
                gettext("%(days)s days without a place: German course first") % {"days": days}
            )
            score += 5
        if offer.free_places == 0:
            score -= 3
        found.append(Suggestion(offer=offer, reasons=reasons, score=score))
    found.sort(key=lambda s: (-s.score, s.offer.title, s.offer.pk))
    return found[:limit]
