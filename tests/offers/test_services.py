"""Registrations of a case for an offer: the state machine, who may answer, places, the
history line, the outbox mail, and that a registration never blocks the case."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from cases.models import CaseEvent, State
from cases.services import case_transition
from coordination.exceptions import DomainError, NoFreePlace, NotAllowed, TransitionRefused
from coordination.models import AuditEntry, OutboxMessage
from offers.models import Offer, OfferRegistration, RegistrationState
from offers.services import (
    offer_places_update,
    offer_save,
    registration_confirm,
    registration_create,
    registration_decline,
    registration_drop_out,
    registration_end,
    registration_start,
    registration_withdraw,
)
from tests.factories import (
    CaseFactory,
    OfferFactory,
    ProviderFactory,
    ReferralFactory,
)

pytestmark = pytest.mark.django_db


def test_a_case_waiting_in_intake_can_be_registered(coordinator, offer):
    case = CaseFactory(coordinator=coordinator)
    assert case.state == State.INTAKE
    registration = registration_create(case=case, offer=offer, by=coordinator, message="Hallo")
    assert registration.state == RegistrationState.REQUESTED
    event = CaseEvent.objects.filter(case=case, kind=CaseEvent.Kind.OFFER).get()
    assert "Deutschkurs Lützel" in event.comment
    assert event.transition == "offer_registered"
    assert AuditEntry.objects.filter(action="offer_registration.registered").exists()


def test_registering_mails_a_provider_with_login_in_the_same_transaction(
    coordinator, offer, provider_user
):
    case = CaseFactory(coordinator=coordinator)
    registration = registration_create(case=case, offer=offer, by=coordinator)
    mail = OutboxMessage.objects.get(kind="offer.registered")
    assert mail.to == offer.provider.email
    assert mail.object_id == str(registration.pk)
    assert case.reference in mail.body
    assert case.given_name not in mail.body and case.given_name not in mail.subject


def test_no_mail_when_the_provider_has_no_login(coordinator, offer):
    registration_create(case=CaseFactory(coordinator=coordinator), offer=offer, by=coordinator)
    assert not OutboxMessage.objects.filter(kind="offer.registered").exists()


def test_another_team_cannot_register_a_case(coordinator, other_coordinator, offer):
    case = CaseFactory(coordinator=coordinator)
    with pytest.raises(NotAllowed):
        registration_create(case=case, offer=offer, by=other_coordinator)


def test_the_same_offer_cannot_be_open_twice_for_a_child(coordinator, offer):
    case = CaseFactory(coordinator=coordinator)
    registration_create(case=case, offer=offer, by=coordinator)
    with pytest.raises(DomainError):
        registration_create(case=case, offer=offer, by=coordinator)


def test_inactive_offer_and_closed_case_are_refused(coordinator, offer):
    case = CaseFactory(coordinator=coordinator, closed=True)
    with pytest.raises(DomainError):
        registration_create(case=case, offer=offer, by=coordinator)
    Offer.objects.filter(pk=offer.pk).update(is_active=False)
    with pytest.raises(DomainError):
        registration_create(case=CaseFactory(coordinator=coordinator), offer=offer, by=coordinator)


def test_provider_confirms_takes_a_place_and_tells_the_coordinator(
    coordinator, offer, provider_user
):
    case = CaseFactory(coordinator=coordinator)
    registration = registration_create(case=case, offer=offer, by=coordinator)
    registration = registration_confirm(registration=registration, by=provider_user)
    assert registration.state == RegistrationState.CONFIRMED
    assert Offer.objects.get(pk=offer.pk).free_places == 1
    assert OutboxMessage.objects.filter(kind="offer.confirmed", to=coordinator.email).exists()
    stored = OfferRegistration.objects.get(pk=registration.pk)
    assert stored.answered_by == provider_user and not stored.answer_recorded_by_coordinator


def test_confirming_without_a_free_place_is_refused(coordinator, offer, provider_user):
    Offer.objects.filter(pk=offer.pk).update(free_places=0)
    registration = registration_create(
        case=CaseFactory(coordinator=coordinator), offer=offer, by=coordinator
    )
    with pytest.raises(NoFreePlace):
        registration_confirm(registration=registration, by=provider_user)
    assert OfferRegistration.objects.get(pk=registration.pk).state == RegistrationState.REQUESTED


def test_coordinator_records_the_answer_only_when_the_provider_has_no_login(
    coordinator, offer, provider_user
):
    with_login = registration_create(
        case=CaseFactory(coordinator=coordinator), offer=offer, by=coordinator
    )
    with pytest.raises(TransitionRefused):
        registration_confirm(registration=with_login, by=coordinator)
    no_login_offer = OfferFactory(provider=ProviderFactory(name="Sportverein ohne Login"))
    registration = registration_create(
        case=CaseFactory(coordinator=coordinator), offer=no_login_offer, by=coordinator
    )
    registration = registration_confirm(registration=registration, by=coordinator)
    assert registration.answer_recorded_by_coordinator
    assert not OutboxMessage.objects.filter(kind="offer.confirmed").exists()


def test_other_provider_staff_cannot_answer(coordinator, offer, provider_user):
    from tests.factories import UserFactory

    stranger = UserFactory(
        role="institution_staff", providers=[ProviderFactory(name="Anderer Verein")]
    )
    registration = registration_create(
        case=CaseFactory(coordinator=coordinator), offer=offer, by=coordinator
    )
    with pytest.raises(TransitionRefused):
        registration_confirm(registration=registration, by=stranger)
    assert AuditEntry.objects.filter(action="offer_registration.transition_refused").exists()


def test_decline_needs_a_coded_reason(coordinator, offer, provider_user):
    registration = registration_create(
        case=CaseFactory(coordinator=coordinator), offer=offer, by=coordinator
    )
    with pytest.raises(DomainError):
        registration_decline(registration=registration, by=provider_user, reason="nonsense")
    with pytest.raises(DomainError):
        registration_decline(registration=registration, by=provider_user, reason="offer_other")
    registration = registration_decline(
        registration=registration, by=provider_user, reason="offer_full"
    )
    assert registration.state == RegistrationState.DECLINED
    assert CaseEvent.objects.filter(kind="offer", reason="offer_full").exists()


def test_attendance_started_then_ended_or_dropped_out(coordinator, offer, provider_user):
    today = timezone.localdate()
    for finish, state in ((registration_end, "ended"), (registration_drop_out, "dropped_out")):
        registration = registration_create(
            case=CaseFactory(coordinator=coordinator), offer=offer, by=coordinator
        )
        registration = registration_confirm(registration=registration, by=provider_user)
        registration = registration_start(
            registration=registration, by=provider_user, first_day=today
        )
        assert registration.state == RegistrationState.STARTED
        registration = finish(registration=registration, by=provider_user, last_day=today)
        assert registration.state == state
        assert registration.ended_on == today


def test_attendance_dates_are_checked(coordinator, offer, provider_user):
    registration = registration_create(
        case=CaseFactory(coordinator=coordinator), offer=offer, by=coordinator
    )
    registration = registration_confirm(registration=registration, by=provider_user)
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    with pytest.raises(DomainError):
        registration_start(registration=registration, by=provider_user, first_day=tomorrow)
    with pytest.raises(DomainError):
        registration_start(
            registration=registration, by=provider_user,
            first_day=timezone.localdate() - dt.timedelta(days=3),
        )  # fmt: skip


def test_withdrawing_a_confirmed_registration_gives_the_place_back(
    coordinator, offer, provider_user
):
    registration = registration_create(
        case=CaseFactory(coordinator=coordinator), offer=offer, by=coordinator
    )
    registration = registration_confirm(registration=registration, by=provider_user)
    assert Offer.objects.get(pk=offer.pk).free_places == 1
    registration = registration_withdraw(registration=registration, by=coordinator)
    assert registration.state == RegistrationState.WITHDRAWN
    assert Offer.objects.get(pk=offer.pk).free_places == 2


def test_an_open_registration_never_blocks_closing_the_case(coordinator, offer):
    case = CaseFactory(coordinator=coordinator, ready=True)
    registration_create(case=case, offer=offer, by=coordinator)
    assert not case.has_open_referral()
    case_transition(case=case, by=coordinator, transition="hold", reason="waiting")
    case.refresh_from_db()
    assert case.state == State.ON_HOLD


def test_an_open_registration_never_blocks_the_placement_referral(
    coordinator, offer, institution, school_user
):
    case = CaseFactory(coordinator=coordinator, ready=True, district=institution.district)
    registration_create(case=case, offer=offer, by=coordinator)
    referral = ReferralFactory(coordinator=coordinator, institution=institution, case=case)
    assert referral.state == "pending"
    case.refresh_from_db()
    assert case.state == State.REFERRED


def test_offer_save_by_provider_staff_only_for_its_own_provider(provider, provider_user, district):
    data = {
        "provider": provider, "kind": "homework", "title": "Hausaufgabenhilfe",
        "district": district, "is_free": True, "languages": ["Dari"], "weekdays": [1],
    }  # fmt: skip
    offer = offer_save(by=provider_user, data=data)
    assert offer.pk and offer.updated_by == provider_user
    other = ProviderFactory(name="Fremder Anbieter")
    with pytest.raises(NotAllowed):
        offer_save(by=provider_user, data={**data, "provider": other})
    with pytest.raises(DomainError):
        offer_save(by=provider_user, data={**data, "min_age": 12, "max_age": 6}, offer=offer)
    with pytest.raises(DomainError):
        offer_save(by=provider_user, data={**data, "is_free": False, "fee": None}, offer=offer)


def test_places_update_is_refused_to_other_staff(offer, school_user):
    with pytest.raises(NotAllowed):
        offer_places_update(offer=offer, by=school_user, free_places=3)


def test_registrations_are_part_of_the_full_record_but_not_open_work(coordinator, offer):
    from cases.access import case_access_report, case_full_record
    from cases.extensions import case_has_open_work

    case = CaseFactory(coordinator=coordinator)
    registration_create(case=case, offer=offer, by=coordinator, message="Bitte melden")
    record = case_full_record(case=case)
    assert record["offers"][0]["message"] == "Bitte melden"
    assert not case_has_open_work(case)
    report = case_access_report(case=case)
    assert report["offers"][0]["provider"] == offer.provider.name


def test_erasure_removes_the_registration_comments(coordinator, offer, admin_user_role):
    from cases.models import Case
    from cases.retention import case_erase

    case = CaseFactory(coordinator=coordinator)
    registration = registration_create(case=case, offer=offer, by=coordinator, message="privat")
    registration_withdraw(registration=registration, by=coordinator)
    case_transition(case=case, by=coordinator, transition="close", reason="moved_away")
    Case.objects.filter(pk=case.pk).update(archive_status="declined")
    case_erase(case=Case.objects.get(pk=case.pk))
    assert not OfferRegistration.objects.get(pk=registration.pk).message
