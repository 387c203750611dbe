"""No overbooking: two acceptances racing for the last free place, on real PostgreSQL.

Thread A accepts and keeps its transaction open; thread B tries while A holds the lock; only
when PostgreSQL reports B waiting for a lock does A commit. Exactly one wins; places never
go negative.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection, connections, transaction

from cases.models import Group
from coordination.exceptions import NoFreePlace
from referrals.models import Places, Referral, ReferralState
from referrals.services import referral_accept, referral_create
from tests.factories import CaseFactory, PlacesFactory

WAIT = 30  # seconds: an upper bound for a hung thread, never a timed assertion


def _lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_acceptances_for_the_last_place_never_overbook(
    coordinator, institution, school_user
) -> None:
    PlacesFactory(institution=institution, group=Group.GRADE_2, free=1)
    first, second = (
        referral_create(
            case=CaseFactory(coordinator=coordinator, ready=True, district=institution.district),
            institution=institution,
            by=coordinator,
        )
        for _ in range(2)
    )
    a_holds_lock, b_is_waiting = threading.Event(), threading.Event()
    results: dict[str, Any] = {}

    def thread_a() -> None:
        try:
            with transaction.atomic():
                referral_accept(referral=Referral.objects.get(pk=first.pk), by=school_user)
                a_holds_lock.set()
                assert b_is_waiting.wait(WAIT), "B never waited for the lock"
            results["a"] = "accepted"
        except Exception as exc:
            results["a"] = exc
        finally:
            a_holds_lock.set()
            connections.close_all()

    def thread_b() -> None:
        try:
            assert a_holds_lock.wait(WAIT)
            referral_accept(referral=Referral.objects.get(pk=second.pk), by=school_user)
            results["b"] = "accepted"
        except NoFreePlace:
            results["b"] = "no free place"
        except Exception as exc:
            results["b"] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=thread_a), threading.Thread(target=thread_b)]
    for t in threads:
        t.start()
    assert a_holds_lock.wait(WAIT)
    deadline = time.monotonic() + WAIT
    b_blocked = False
    while not b_blocked and time.monotonic() < deadline:
        b_blocked = _lock_waiters() >= 1
        time.sleep(0.02)
    b_is_waiting.set()
    for t in threads:
        t.join(WAIT)

    assert b_blocked, "B was never seen waiting for A's lock"
    assert results == {"a": "accepted", "b": "no free place"}
    places = Places.objects.get(institution=institution, group=Group.GRADE_2)
    assert (places.free, places.reserved) == (0, 1)
    states = dict(Referral.objects.values_list("pk", "state"))
    assert states == {first.pk: ReferralState.ACCEPTED, second.pk: ReferralState.PENDING}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_many_simultaneous_acceptances_take_exactly_the_free_places(
    coordinator, institution, school_user
) -> None:
    PlacesFactory(institution=institution, group=Group.GRADE_2, free=2)
    referrals = [
        referral_create(
            case=CaseFactory(coordinator=coordinator, ready=True, district=institution.district),
            institution=institution,
            by=coordinator,
        )
        for _ in range(5)
    ]
    start = threading.Barrier(len(referrals))
    outcomes: list[str] = []

    def accept(pk: int) -> None:
        try:
            referral = Referral.objects.get(pk=pk)
            start.wait(WAIT)
            referral_accept(referral=referral, by=school_user)
            outcomes.append("accepted")
        except NoFreePlace:
            outcomes.append("no free place")
        except Exception as exc:
            outcomes.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=accept, args=(r.pk,)) for r in referrals]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)

    assert sorted(outcomes) == ["accepted"] * 2 + ["no free place"] * 3
    places = Places.objects.get(institution=institution, group=Group.GRADE_2)
    assert (places.free, places.reserved) == (0, 2)
