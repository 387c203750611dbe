"""factory_boy factories with traits, e.g. ``CaseFactory(ready=True)``, ``ReferralFactory(accepted=True)``.

Cases and referrals in a given state are built through the real services, so every factory
object has the history and audit rows a real one would have.
"""

from __future__ import annotations

import datetime as dt

import factory
from django.contrib.auth.models import Group
from django.utils import timezone
from guardian.shortcuts import assign_perm

from cases.models import Case, Group as PlaceGroup, TargetType
from coordination.models import District, Team, User
from referrals.models import Institution, InstitutionKind, Places, Referral


class DistrictFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = District
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Bezirk {n}")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Team {n}")
    mailbox = factory.Sequence(lambda n: f"team{n}@example.org")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.org")
    first_name = "Test"
    last_name = factory.LazyAttribute(lambda o: o.username.title())
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        if extracted:
            group, _ = Group.objects.get_or_create(name=extracted)
            self.groups.add(group)
            if hasattr(self, "_role_names"):
                del self._role_names

    @factory.post_generation
    def institutions(self, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        for institution in extracted or ():
            assign_perm("referrals.staff_institution", self, institution)


class InstitutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Institution
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Grundschule Nr. {n}")
    kind = InstitutionKind.GRUNDSCHULE
    district = factory.SubFactory(DistrictFactory)
    email = factory.Sequence(lambda n: f"schule{n}@example.org")

    class Params:
        kita = factory.Trait(
            kind=InstitutionKind.KITA, name=factory.Sequence(lambda n: f"Kita Nr. {n}")
        )


class PlacesFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Places
        django_get_or_create = ("institution", "group")

    institution = factory.SubFactory(InstitutionFactory)
    group = PlaceGroup.GRADE_2
    free = 2


def _register(coordinator: User, **data) -> Case:  # type: ignore[no-untyped-def]
    from cases.services import case_register

    return case_register(by=coordinator, data=data)


class CaseFactory:
    """Build a case through the services. Traits: clarification, ready, on_hold, closed,
    referred, placed. ``CaseFactory(coordinator=u, ready=True, district=d)``."""

    counter = 0

    def __new__(  # type: ignore[misc]
        cls,
        *,
        coordinator: User,
        district: District | None = None,
        clarification: bool = False,
        ready: bool = False,
        on_hold: bool = False,
        closed: bool = False,
        **data,
    ) -> Case:
        from cases.services import case_transition

        cls.counter += 1
        defaults = {
            "given_name": f"Amina{cls.counter}",
            "family_name": "Haddad",
            "birth_date": dt.date(2017, 3, 14),
            "target_type": TargetType.SCHOOL,
            "wanted_group": PlaceGroup.GRADE_2,
            "district": district or DistrictFactory(),
            "languages": ["ar"],
            "arrival_city": timezone.localdate() - dt.timedelta(days=30),
        }
        defaults.update(data)
        case = _register(coordinator, **defaults)
        if clarification or ready or on_hold:
            case_transition(case=case, by=coordinator, transition="start_clarification")
        if ready:
            case_transition(case=case, by=coordinator, transition="mark_ready")
        if on_hold:
            case_transition(case=case, by=coordinator, transition="hold", reason="waiting")
        if closed:
            case_transition(case=case, by=coordinator, transition="close", reason="moved_away")
        return case


class ReferralFactory:
    """A referral of a ready case to an institution with a free place.
    Traits: accepted, enrolled, declined."""

    def __new__(  # type: ignore[misc]
        cls,
        *,
        coordinator: User,
        institution: Institution,
        staff: User | None = None,
        accepted: bool = False,
        enrolled: bool = False,
        declined: bool = False,
        case: Case | None = None,
        free: int = 2,
    ) -> Referral:
        from referrals.services import (
            referral_accept,
            referral_create,
            referral_decline,
            referral_enrol,
        )

        case = case or CaseFactory(coordinator=coordinator, ready=True, district=institution.district)
        PlacesFactory(institution=institution, group=case.wanted_group, free=free)
        referral = referral_create(case=case, institution=institution, by=coordinator)
        if (accepted or enrolled or declined) and staff is None:
            raise ValueError("accepted/enrolled/declined need staff=")
        if accepted or enrolled:
            referral = referral_accept(referral=referral, by=staff)
        if enrolled:
            referral = referral_enrol(referral=referral, by=staff, first_day=timezone.localdate())
        if declined:
            referral = referral_decline(referral=referral, by=staff, reason="no_place")
        return referral
