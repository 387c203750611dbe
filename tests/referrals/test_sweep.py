"""The reminder sweep, travelling through time: each level on its working day, once.

A referral made on Wednesday 1 April 2026, just before Easter (Good Friday 3 April and Easter
Monday 6 April are holidays in Rhineland-Palatinate), with the default thresholds:
r1 on Friday 10 April, r2 on Friday 17 April, esc on Friday 24 April, and expiry on Monday
4 May (1 May is a holiday too).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from kombu.exceptions import OperationalError as BrokerDown

from cases.models import CaseEvent
from coordination.models import OfficeSettings, OutboxMessage
from coordination.outbox import outbox_flush, outbox_send
from coordination.outbox_tasks import send_outbox_message
from referrals import reminders
from referrals.models import ReferralState, ReminderLog
from referrals.reminders import referrals_sweep, reminders_claim_due
from referrals.services import referral_accept, referral_decline
from tests.factories import ReferralFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_school_holidays")]

BERLIN = ZoneInfo("Europe/Berlin")
Level = ReminderLog.Level
Outcome = ReminderLog.Outcome


def at(month: int, day: int, hour: int = 8, minute: int = 0, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=BERLIN)


@pytest.fixture
def sweep(django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """Run one sweep at a moment; queued sends run eagerly (test settings) after commit."""

    def _sweep(when: dt.datetime, **kwargs):  # type: ignore[no-untyped-def]
        with (
            time_machine.travel(when, tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            return referrals_sweep(**kwargs)

    return _sweep


@pytest.fixture
def lead(team):  # type: ignore[no-untyped-def]
    user = UserFactory(role="coordinator", team=team, username="lead")
    team.lead = user
    team.save()
    return user


def make_referral(coordinator, institution, when=None, **kwargs):  # type: ignore[no-untyped-def]
    with time_machine.travel(when or at(4, 1, 10), tick=False):
        return ReferralFactory(coordinator=coordinator, institution=institution, **kwargs)


@pytest.fixture
def pending(coordinator, institution):  # type: ignore[no-untyped-def]
    return make_referral(coordinator, institution)


def levels(referral) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return dict(referral.reminders.values_list("level", "outcome"))


def test_each_level_comes_on_its_working_day_and_only_once(
    sweep, pending, coordinator, institution, lead, mailoutbox
) -> None:
    sweep(at(4, 9, 23, 59))  # Thursday: only 4 working days (Easter)
    assert levels(pending) == {}

    sweep(at(4, 10, 0, 5))
    assert levels(pending) == {Level.REMINDER_1: Outcome.SENT}
    assert [m.to for m in mailoutbox] == [[institution.email]]
    sweep(at(4, 10, 12))
    sweep(at(4, 16, 23))
    assert len(mailoutbox) == 1

    sweep(at(4, 17))
    assert levels(pending)[Level.REMINDER_2] == Outcome.SENT
    assert sorted(m.to[0] for m in mailoutbox[1:]) == sorted([institution.email, coordinator.email])

    sweep(at(4, 23))
    assert Level.ESCALATION not in levels(pending)
    sweep(at(4, 24))
    assert levels(pending)[Level.ESCALATION] == Outcome.SENT
    assert mailoutbox[-1].to == [lead.email]

    sweep(at(4, 30, 23))  # 19 working days; 1 May is a holiday
    sweep(at(5, 1, 12))
    pending.refresh_from_db()
    assert pending.state == ReferralState.PENDING
    sweep(at(5, 4))
    pending.refresh_from_db()
    assert pending.state == ReferralState.EXPIRED
    pending.case.refresh_from_db()
    assert pending.case.state == "ready"
    assert levels(pending)[Level.EXPIRY] == Outcome.SENT
    assert mailoutbox[-1].to == [coordinator.email]
    assert len(mailoutbox) == 5

    sweep(at(5, 20))
    assert len(mailoutbox) == 5
    history = list(
        pending.case.events.filter(kind=CaseEvent.Kind.REMINDER).values_list("transition", "reason")
    )
    assert history == [(lvl, "sent") for lvl in ("r1", "r2", "esc", "exp")]


@pytest.mark.parametrize(
    ("when", "level", "audiences"),
    [
        (at(4, 10), Level.REMINDER_1, ["institution"]),
        (at(4, 17), Level.REMINDER_2, ["institution", "coordinator"]),
        (at(4, 24), Level.ESCALATION, ["team_mailbox"]),
        (at(5, 4), Level.EXPIRY, ["coordinator"]),
    ],
)
def test_a_sweep_after_a_long_pause_sends_only_the_highest_due_level(
    sweep, pending, mailoutbox, when, level, audiences
) -> None:
    result = sweep(when)
    assert result.queued == {level: 1}
    rows = levels(pending)
    assert rows[level] == Outcome.SENT
    assert all(outcome == Outcome.SKIPPED for lvl, outcome in rows.items() if lvl != level)
    assert (
        len(rows)
        == [Level.REMINDER_1, Level.REMINDER_2, Level.ESCALATION, Level.EXPIRY].index(level) + 1
    )
    assert pending.reminders.get(level=level).recipient.split(",") == audiences
    assert len(mailoutbox) == len(audiences)


def test_escalation_goes_to_the_office_mailbox_without_lead_or_team_mailbox(
    sweep, pending, team, settings, mailoutbox
) -> None:
    team.mailbox = ""
    team.save()
    sweep(at(4, 24))
    assert mailoutbox[-1].to == [settings.OFFICE_MAILBOX]


def test_mails_carry_the_reference_and_a_link_but_no_personal_data(
    sweep, pending, mailoutbox
) -> None:
    sweep(at(4, 17))
    case = pending.case
    for message in mailoutbox:
        text = message.subject + message.body
        assert case.reference in text
        assert "http" in message.body
        for personal in (case.given_name, case.family_name, case.birth_date.isoformat()):
            assert personal not in text
        assert message.extra_headers["Auto-Submitted"] == "auto-generated"


def test_thresholds_come_from_the_office_settings(sweep, pending, mailoutbox) -> None:
    office = OfficeSettings.current()
    office.reminder_1_days = 2
    office.save()
    sweep(at(4, 7, 12))  # Thu 2, Tue 7: two working days after 1 April
    assert levels(pending) == {Level.REMINDER_1: Outcome.SENT}


def test_enrolment_reminder_and_notice_after_the_agreed_start_date(
    sweep, coordinator, institution, school_user, mailoutbox
) -> None:
    # Start date Wednesday 3 June; Thursday 4 June is Corpus Christi (Fronleichnam).
    referral = make_referral(coordinator, institution, when=at(6, 1, 10))
    with time_machine.travel(at(6, 1, 11), tick=False):
        referral_accept(referral=referral, by=school_user, start_date=dt.date(2026, 6, 3))
    sweep(at(6, 8, 23))
    assert levels(referral) == {}
    sweep(at(6, 9))  # 5, 8, 9 June: three working days after the start date
    assert levels(referral) == {Level.ENROL_REMINDER: Outcome.SENT}
    assert mailoutbox[-1].to == [institution.email]
    sweep(at(6, 15, 23))
    sweep(at(6, 16))
    assert levels(referral)[Level.ENROL_NOTICE] == Outcome.SENT
    assert mailoutbox[-1].to == [coordinator.email]
    assert len(mailoutbox) == 2


def test_accepted_referral_without_a_start_date_gets_no_enrolment_reminder(
    sweep, pending, school_user, mailoutbox
) -> None:
    with time_machine.travel(at(4, 2), tick=False):
        referral_accept(referral=pending, by=school_user)
    sweep(at(7, 1))
    assert levels(pending) == {}
    assert mailoutbox == []


def test_an_answer_stops_the_chain(sweep, pending, school_user, mailoutbox) -> None:
    sweep(at(4, 10))
    assert len(mailoutbox) == 1
    with time_machine.travel(at(4, 13), tick=False):
        referral_decline(referral=pending, by=school_user, reason="no_place")
    for when in (at(4, 17), at(4, 24), at(5, 4), at(6, 1)):
        sweep(when)
    assert levels(pending) == {Level.REMINDER_1: Outcome.SENT}
    assert len(mailoutbox) == 1
    pending.refresh_from_db()
    assert pending.state == ReferralState.DECLINED


def test_an_answer_after_queueing_cancels_the_queued_reminder(pending, school_user, mailoutbox):
    with time_machine.travel(at(4, 10), tick=False):
        _result, _ids = reminders_claim_due()  # its mail is written, not handed over
    [message] = OutboxMessage.objects.filter(kind="reminder.r1")
    with time_machine.travel(at(4, 10, 9), tick=False):
        referral_accept(referral=pending, by=school_user)
        assert outbox_send(message_id=message.pk) == OutboxMessage.State.CANCELLED
    assert levels(pending) == {Level.REMINDER_1: Outcome.SKIPPED}
    assert [m for m in mailoutbox if "Erinnerung" in m.subject] == []
    message.refresh_from_db()
    assert message.last_error == "the referral is accepted now"


def test_the_due_query_is_one_query_whatever_the_number_of_referrals(
    coordinator, institution
) -> None:
    def claim_queries() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as ctx, time_machine.travel(at(4, 10), tick=False):
            _result, ids = reminders_claim_due()
        due = [q for q in ctx.captured_queries if "UNION ALL" in q["sql"]]
        assert len(due) == 1
        queries = [q for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]
        return len(queries), len(ids)

    OfficeSettings.current()  # cached: not part of what is measured
    make_referral(coordinator, institution)
    make_referral(coordinator, institution, when=at(4, 8))  # not due yet
    few = claim_queries()
    for _ in range(4):
        make_referral(coordinator, institution)
    for _ in range(3):
        make_referral(coordinator, institution, when=at(4, 8))
    many = claim_queries()
    assert few[1] == 1 and many[1] == 4  # the first one already has its r1
    # The batch is written set-based: one insert for its reminder rows, one for its mails.
    assert many[0] == few[0]


def test_a_stale_view_of_what_is_due_never_writes_a_level_twice(pending, monkeypatch) -> None:
    """A sweep whose due query saw the referral before another sweep committed its row (or a
    sweep repeated after a crash) reads the rows again under lock and writes nothing."""
    with time_machine.travel(at(4, 10), tick=False):
        _result, first = reminders_claim_due()
        monkeypatch.setattr(
            reminders,
            "referrals_due",
            lambda cutoffs: type(pending).objects.filter(pk=pending.pk),
        )
        result, second = reminders_claim_due()
    assert len(first) == 1
    assert second == []
    assert result.queued == {}
    assert pending.reminders.count() == 1


def test_the_unique_row_is_the_last_word_when_a_row_appears_anyway(pending) -> None:
    """Should a row exist despite the lock (written outside the sweep), the insert keeps it
    and reports only what was new."""
    existing = ReminderLog.objects.create(referral=pending, level=Level.REMINDER_1)
    rows = [
        reminders._row(pending.pk, Level.REMINDER_1, at(4, 10)),
        reminders._row(pending.pk, Level.REMINDER_2, at(4, 10)),
    ]
    created = reminders._insert(rows)
    assert [(row.level, row.pk is not None) for row in created] == [(Level.REMINDER_2, True)]
    assert pending.reminders.get(level=Level.REMINDER_1).pk == existing.pk


def test_broker_down_leaves_the_mail_queued_and_the_flush_hands_it_over_later(
    sweep, pending, mailoutbox, caplog
) -> None:
    with (
        mock.patch.object(
            send_outbox_message, "delay", side_effect=BrokerDown("connection refused")
        ),
        caplog.at_level(logging.WARNING, logger="coordination.outbox"),
    ):
        result = sweep(at(4, 10, 8))
    assert result.queued == {Level.REMINDER_1: 1}
    assert "broker unavailable" in caplog.text
    assert levels(pending) == {Level.REMINDER_1: Outcome.QUEUED}
    assert mailoutbox == []
    [message] = OutboxMessage.objects.filter(kind="reminder.r1")
    assert message.state == OutboxMessage.State.QUEUED

    with time_machine.travel(at(4, 10, 8, 5), tick=False):
        flush = outbox_flush()
    assert flush.handed_over >= 1
    assert levels(pending) == {Level.REMINDER_1: Outcome.SENT}
    message.refresh_from_db()
    assert message.state == OutboxMessage.State.SENT
    ids = [m.extra_headers["Message-ID"] for m in mailoutbox]
    assert ids.count(message.message_id) == 1


def test_management_command_runs_one_sweep_and_prints_levels_and_counts(
    pending, coordinator, institution, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    make_referral(coordinator, institution, when=at(3, 20))  # due for r2 by 10 April
    out = io.StringIO()
    with (
        time_machine.travel(at(4, 10), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        call_command("sweep_referrals", "--send", stdout=out)
    text = out.getvalue()
    assert "r1   first reminder to the institution: 1 new" in text
    assert "r2   second reminder, coordinator notified: 1 new" in text
    assert "skipped, a later level was due at once: 1 (r1 1)" in text
    assert "e-mails written to the outbox: 3" in text
    sent = OutboxMessage.objects.filter(kind__startswith="reminder.", state="sent")
    assert sent.count() == 3
    assert {m.extra_headers["Message-ID"] for m in mailoutbox} >= {m.message_id for m in sent}
    out = io.StringIO()
    with time_machine.travel(at(4, 10, 9), tick=False):
        call_command("sweep_referrals", stdout=out)
    assert out.getvalue().strip() == "nothing due"


def test_expiry_records_history_and_audit(sweep, pending) -> None:
    from coordination.models import AuditEntry

    sweep(at(5, 4))
    assert AuditEntry.objects.filter(action="referral.expired", object_id=str(pending.pk)).exists()
    assert pending.case.events.filter(kind=CaseEvent.Kind.REFERRAL, transition="expired").exists()


def test_the_beat_task_runs_one_sweep(pending, mailoutbox, django_capture_on_commit_callbacks):
    from referrals.tasks import sweep_referrals

    with (
        time_machine.travel(at(4, 10), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        summary = sweep_referrals.delay().get()
    assert summary["queued"] == {"r1": 1}
    assert len(mailoutbox) == 1


def test_office_settings_refuse_levels_out_of_order() -> None:
    from django.core.exceptions import ValidationError

    office = OfficeSettings.current()
    office.full_clean()
    office.escalation_days = office.reminder_2_days
    office.enrolment_notice_days = office.enrolment_reminder_days
    with pytest.raises(ValidationError) as refused:
        office.full_clean()
    assert set(refused.value.message_dict) == {"escalation_days", "enrolment_notice_days"}


def test_confirming_the_enrolment_stops_the_enrolment_chain(
    sweep, coordinator, institution, school_user, mailoutbox
) -> None:
    from referrals.services import referral_enrol

    referral = make_referral(coordinator, institution, when=at(6, 1, 10))
    with time_machine.travel(at(6, 1, 11), tick=False):
        referral = referral_accept(
            referral=referral, by=school_user, start_date=dt.date(2026, 6, 3)
        )
    sweep(at(6, 9))
    with time_machine.travel(at(6, 10), tick=False):
        referral_enrol(referral=referral, by=school_user, first_day=dt.date(2026, 6, 3))
    sweep(at(6, 16))
    sweep(at(7, 1))
    assert levels(referral) == {Level.ENROL_REMINDER: Outcome.SENT}
    assert len(mailoutbox) == 1


def test_the_referral_keeps_its_highest_recorded_level(
    sweep, pending, coordinator, institution, school_user
) -> None:
    """``reminder_level`` follows the rows: r2 after a pause (r1 skipped), then esc; an accepted
    referral starts its enrolment chain from a pending level."""
    sweep(at(4, 17))
    pending.refresh_from_db()
    assert levels(pending) == {Level.REMINDER_1: Outcome.SKIPPED, Level.REMINDER_2: Outcome.SENT}
    assert pending.reminder_level == Level.REMINDER_2
    sweep(at(4, 24))
    pending.refresh_from_db()
    assert pending.reminder_level == Level.ESCALATION

    referral = make_referral(coordinator, institution, when=at(5, 20, 10))
    sweep(at(5, 29))  # Whit Monday 25 May is a holiday: r1 is due on Friday 29 May
    referral.refresh_from_db()
    assert referral.reminder_level == Level.REMINDER_1
    with time_machine.travel(at(5, 29, 11), tick=False):
        referral_accept(referral=referral, by=school_user, start_date=dt.date(2026, 6, 1))
    sweep(at(6, 5))  # 2, 3, 5 June: three working days after the start date
    referral.refresh_from_db()
    assert levels(referral)[Level.ENROL_REMINDER] == Outcome.SENT
    assert referral.reminder_level == Level.ENROL_REMINDER


def test_a_referral_whose_rows_were_written_elsewhere_is_mended_not_sent_twice(
    pending, mailoutbox
) -> None:
    """A row written outside the sweep leaves ``reminder_level`` behind: the sweep finds the
    referral, writes nothing (the rows are read again under lock) and records the level, so
    the next sweep does not look at it again."""
    ReminderLog.objects.create(referral=pending, level=Level.REMINDER_1, outcome=Outcome.SENT)
    cutoffs_at = at(4, 10)
    with time_machine.travel(cutoffs_at, tick=False):
        cutoffs = reminders.Cutoffs.at(cutoffs_at, OfficeSettings.current())
        assert list(reminders.referrals_due(cutoffs)) == [pending]
        result, ids = reminders_claim_due()
        assert ids == [] and result.queued == {}
        assert list(reminders.referrals_due(cutoffs)) == []
    pending.refresh_from_db()
    assert pending.reminder_level == Level.REMINDER_1
    assert pending.reminders.count() == 1
    assert mailoutbox == []


def test_closed_referrals_are_never_due_whatever_their_level(
    coordinator, institution, school_user
) -> None:
    declined = make_referral(coordinator, institution)
    with time_machine.travel(at(4, 2), tick=False):
        referral_decline(referral=declined, by=school_user, reason="no_place")
    with time_machine.travel(at(6, 30), tick=False):
        cutoffs = reminders.Cutoffs.at(at(6, 30), OfficeSettings.current())
        assert list(reminders.referrals_due(cutoffs)) == []


def test_sending_a_reminder_decrypts_nothing(sweep, pending, mailoutbox, decrypted) -> None:
    """The mail carries the reference and a link: the child's encrypted fields are not even
    read while the reminders go out."""
    sweep(at(4, 17))  # r2: to the institution and the coordinator
    assert levels(pending)[Level.REMINDER_2] == Outcome.SENT
    assert len(mailoutbox) == 2
    assert decrypted == []
