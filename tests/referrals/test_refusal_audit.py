"""A refused referral transition leaves an audit row, although its transaction rolled back."""

from __future__ import annotations

import pytest

from coordination.exceptions import TransitionRefused
from coordination.models import AuditEntry
from referrals.services import referral_accept
from tests.factories import InstitutionFactory, ReferralFactory, UserFactory


def test_refused_accept_by_staff_of_another_institution_is_audit_logged(
    coordinator, institution, db
) -> None:
    referral = ReferralFactory(coordinator=coordinator, institution=institution)
    intruder = UserFactory(role="institution_staff", institutions=[InstitutionFactory()])
    with pytest.raises(TransitionRefused):
        referral_accept(referral=referral, by=intruder)
    entry = AuditEntry.objects.filter(action="referral.transition_refused").get()
    assert entry.actor_id == intruder.pk
    assert entry.case_reference == referral.case.reference
    assert entry.detail == {"transition": "accept", "state": "pending"}
