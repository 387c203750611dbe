"""factory_boy factories with traits, e.g. ``CaseFactory(ready=True)``,
``ReferralFactory(accepted=True)``.

Cases and referrals in a given state are built through the real services, so every factory
object has the history and audit rows a real one would have.
"""

from __future__ import annotations

import datetime as dt

import factory
from django.contrib.auth.models import Group
from django.utils import timezone
from guardian.shortcuts import assign_perm

from cases.models import Case, TargetType
from cases.models import Group as PlaceGroup
from coordination.models import District, Team, User
from offers.models import Offer, OfferKind, Provider, ProviderKind
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

    @factory.post_generation
    def providers(self, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        for provider in extracted or ():
            assign_perm("offers.staff_provider", self, provider)


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


class ProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Provider
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Sprachtreff Nr. {n}")
    kind = ProviderKind.ASSOCIATION
    district = factory.SubFactory(DistrictFactory)
    email = factory.Sequence(lambda n: f"verein{n}@example.org")


class OfferFactory(factory.django.DjangoModelFactory):
    """An active offer. ``OfferFactory(provider=p, kind=OfferKind.HOMEWORK_HELP)``."""

    class Meta:
        model = Offer

    provider = factory.SubFactory(ProviderFactory)
    kind = OfferKind.GERMAN_COURSE
    title = factory.Sequence(lambda n: f"Deutschkurs {n}")
    district = factory.LazyAttribute(lambda o: o.provider.district)
    languages = factory.LazyFunction(lambda: ["Arabisch"])
    min_age = 6
    max_age = 12
    weekdays = factory.LazyFunction(lambda: [0, 2])


def _register(coordinator: User, **data) -> Case:  # type: ignore[no-untyped-def]
    from cases.services import case_register

    return case_register(by=coordinator, data=data)


def _fit_the_rules(data: dict) -> None:  # type: ignore[type-arg]
    """Fill what the case rules (cases/rules.py) ask for and a test did not give: schooling
    for a school, the measles answer for a Kita, the interpreter's language, and (for a test
    that travels back in time) a birth date in the target's age range."""
    from cases.rules import SCHOOLING_TARGETS, TARGET_AGES, age_on

    target = data.get("target_type")
    if target in SCHOOLING_TARGETS:
        data.setdefault("school_years", 0)
    if target == TargetType.KITA:
        data.setdefault("measles_proof", True)
    if data.get("interpreter_needed"):
        data.setdefault("interpreter_language", (data.get("languages") or ["Arabisch"])[0])
    today = timezone.localdate()
    youngest, oldest = TARGET_AGES.get(target, (0, 99))
    birth = data.get("birth_date")
    if birth is None or birth > today:
        return
    age = age_on(birth, today)
    if not youngest <= age <= oldest:
        years = youngest if age < youngest else oldest
        data["birth_date"] = today.replace(year=today.year - years, day=min(today.day, 28))


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
        _fit_the_rules(defaults)
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

        case = case or CaseFactory(
            coordinator=coordinator, ready=True, district=institution.district
        )
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


def build_role_world():  # type: ignore[no-untyped-def]
    """One user per role and objects that belong, and do not belong, to each of them.

    Used by the URL-permission walk (tests/test_url_auth.py) and the form fuzzing
    (tests/test_forms_property.py). The case is referred (pending) to ``school``; the
    ``placed_case`` has an accepted referral to ``school``; ``ready_case`` looks for a place.
    """
    from types import SimpleNamespace

    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from cases.models import Guardian
    from coordination.audit import audit_log
    from coordination.models import OfficeSettings

    district = DistrictFactory(name="Altstadt")
    team, other_team = TeamFactory(name="Team Nord"), TeamFactory(name="Team Süd")
    school = InstitutionFactory(name="Grundschule am Moselufer", district=district)
    other_school = InstitutionFactory(name="Grundschule Lützel", district=district)
    kita = InstitutionFactory(kita=True, name="Kita Sonnenblume", district=district)
    from referrals.models import ClosingPeriod

    ClosingPeriod.objects.get_or_create(
        name="Schließtage Kita Sonnenblume", start=dt.date(2026, 12, 28),
        end=dt.date(2026, 12, 31), applies_to="institution", institution=kita,
    )  # fmt: skip
    users = {
        "coordinator_own_team": UserFactory(username="u_co", role="coordinator", team=team),
        "coordinator_other_team": UserFactory(username="u_cx", role="coordinator", team=other_team),
        "school_referred": UserFactory(
            username="u_so", role="institution_staff", institutions=[school]
        ),
        "school_other": UserFactory(
            username="u_sx", role="institution_staff", institutions=[other_school]
        ),
        "kita": UserFactory(username="u_ki", role="institution_staff", institutions=[kita]),
        "management": UserFactory(username="u_mg", role="management"),
        "administrator": UserFactory(
            username="u_ad", role="administrator", is_staff=True, is_superuser=True
        ),
    }
    coordinator, staff = users["coordinator_own_team"], users["school_referred"]
    case = CaseFactory(coordinator=coordinator, ready=True, district=district)
    guardian = Guardian.objects.create(
        family=case.family, relation="mother", name="Leyla", is_contact_person=True
    )
    referral = ReferralFactory(coordinator=coordinator, institution=school, case=case, free=5)
    placed_case = CaseFactory(
        coordinator=coordinator, ready=True, district=district, wanted_group=PlaceGroup.GRADE_3
    )
    accepted = ReferralFactory(
        coordinator=coordinator, institution=school, case=placed_case, staff=staff,
        accepted=True, free=5,
    )  # fmt: skip
    ready_case = CaseFactory(coordinator=coordinator, ready=True, district=district)
    other_case = CaseFactory(coordinator=users["coordinator_other_team"], district=district)
    # Two closed cases past their retention period: one to offer, one offered to the archive.
    from cases.models import Case
    from cases.retention import case_offer_to_archive

    due = [CaseFactory(coordinator=coordinator, closed=True) for _ in range(2)]
    long_ago = timezone.localdate() - dt.timedelta(days=5 * 366)
    Case.objects.filter(pk__in=[c.pk for c in due]).update(closed_on=long_ago)
    case_offer_to_archive(cases=[due[1]], by=users["administrator"])
    OfficeSettings.objects.get_or_create(pk=1)  # not .current(): its cache may be stale
    audit_log(actor=users["administrator"], action="test.world")
    device = TOTPDevice.objects.create(user=users["management"], name="spare", confirmed=False)
    # The own team's lead (the team export) and an import of the own team, checked and
    # waiting for its confirmation (the import pages).
    team.lead = coordinator
    team.save()
    from transfer.models import ImportBatch, ImportKind

    batch = ImportBatch.objects.create(
        kind=ImportKind.CASES, state=ImportBatch.State.CHECKED, created_by=coordinator,
        team=team, file_name="liste.csv", file_key="0" * 64, content=None,
        headers=["Nachname"], mapping={"0": "family_name"}, report={"rows": []},
        expires_at=timezone.now() + dt.timedelta(days=1),
    )  # fmt: skip
    now = timezone.now()
    attempt = {"username": "x", "ip_address": "192.0.2.1", "user_agent": "t",
               "path_info": "/login/", "attempt_time": now}  # fmt: skip
    AccessAttempt.objects.create(failures_since_start=1, **attempt)
    AccessLog.objects.create(**attempt)
    AccessFailureLog.objects.create(**attempt)
    # Offers: a provider whose staff is the referred school's user, an offer of it, and the
    # case registered for it (requested).
    from offers.services import registration_create

    provider = ProviderFactory(name="Sprachtreff Altstadt", district=district)
    assign_perm("offers.staff_provider", staff, provider)
    offer = OfferFactory(provider=provider, title="Deutschkurs am Nachmittag")
    registration = registration_create(case=case, offer=offer, by=coordinator)
    return SimpleNamespace(
        provider=provider, offer=offer, registration=registration,
        users=users, case=case, guardian=guardian, referral=referral, accepted=accepted,
        placed_case=placed_case, ready_case=ready_case, other_case=other_case, team=team,
        other_team=other_team, school=school, other_school=other_school, kita=kita,
        district=district, device=device, due_case=due[0], offered_case=due[1], batch=batch,
    )  # fmt: skip
