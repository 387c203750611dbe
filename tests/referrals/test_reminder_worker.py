"""A worker killed while handing a reminder to the mail server: no mail is lost.

A real Celery worker (a subprocess) on real Redis and PostgreSQL sends the reminder's outbox
row. Its mail backend (``HangOnceBackend`` below) blocks on its first send, that is after the
outbox committed the row as "sending" (the test sees that state from its own connection while
the worker hangs). The test kills the worker with SIGKILL, starts a second one, lets Redis
redeliver the unacknowledged task (a no-op: the row says "sending", not "queued"), ages the
row past ``SENDING_TIMEOUT`` and runs the flush, which queues it again; the second worker
sends it. One mail is in the files (the hung one never reached a server), with the row's
Message-ID: had the server accepted the first, the resend would carry the same Message-ID.

This module is also the worker's Celery app module (``-A tests.referrals.test_reminder_worker``)
so that it can make Redis restore unacknowledged messages every second; it therefore imports
nothing at the top that needs Django's apps to be ready.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import quote

import pytest
from django.core.mail.backends.base import BaseEmailBackend

from coordination.celery import app

ROOT = Path(__file__).resolve().parents[2]
HANG_MARKER = "ANKOMMEN_TEST_HANG_MARKER"
WAIT = 120  # seconds: an upper bound for each wait, never a timed assertion

if os.environ.get(HANG_MARKER):
    # In the worker subprocess only: look for unacknowledged messages every second.
    app.conf.broker_transport_options = {
        **(app.conf.broker_transport_options or {}),
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }


class HangOnceBackend(BaseEmailBackend):
    """First send (in any process): leave a marker and block until killed. Later sends:
    one ``.eml`` file per message in ``EMAIL_FILE_PATH``."""

    def send_messages(self, email_messages: Any) -> int:
        from django.conf import settings

        marker = Path(os.environ[HANG_MARKER])
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            time.sleep(WAIT * 5)  # the test kills this process long before
            raise RuntimeError("the test should have killed this worker")
        out = Path(settings.EMAIL_FILE_PATH)
        out.mkdir(parents=True, exist_ok=True)
        for message in email_messages:
            (out / f"{uuid.uuid4().hex}.eml").write_bytes(message.message().as_bytes())
        return len(email_messages)


def wait_for(condition: Callable[[], Any], what: str, workers: list[Any]) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        for proc, log in workers:
            if proc.poll() is not None and proc.returncode not in (-signal.SIGKILL,):
                pytest.fail(f"worker exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
        time.sleep(0.2)
    logs = "\n".join(log.read_text()[-4000:] for _proc, log in workers)
    pytest.fail(f"gave up waiting for {what}; worker logs:\n{logs}")


def database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    auth = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_worker(env: dict[str, str], queue: str, log: Path, name: str) -> subprocess.Popen[bytes]:
    command = [
        str(Path(sys.executable).with_name("celery")),
        "-A", "tests.referrals.test_reminder_worker", "worker",
        "--pool=solo", "--concurrency=1", "-Q", queue, "-n", f"{name}@%h",
        "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel=INFO",
    ]  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def unacked_task_ids(client: Any) -> set[str]:
    ids = set()
    for raw in client.hvals("unacked"):
        message = json.loads(raw)[0]
        ids.add(message.get("headers", {}).get("id"))
    return ids


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_while_sending_loses_no_mail(coordinator, institution, tmp_path) -> None:
    import redis
    from django.conf import settings
    from django.utils import timezone

    from cases.models import CaseEvent
    from coordination.models import OutboxMessage
    from coordination.outbox import SENDING_TIMEOUT, outbox_flush
    from coordination.outbox_tasks import send_outbox_message
    from coordination.workdays import add_working_days
    from referrals.models import ReminderLog
    from referrals.reminders import reminders_claim_due
    from tests.factories import ReferralFactory

    referral = ReferralFactory(coordinator=coordinator, institution=institution)
    first_reminder_day = add_working_days(timezone.localdate(referral.created_at), 5)
    with mock.patch("coordination.outbox.hand_over"):  # handed to the worker below
        _result, ids = reminders_claim_due(
            now=timezone.make_aware(dt.datetime.combine(first_reminder_day, dt.time(8)))
        )
    reminder = ReminderLog.objects.get(pk=ids[0])
    assert (reminder.referral_id, reminder.level) == (referral.pk, "r1")
    message = OutboxMessage.objects.get(object_type="referrals.reminderlog", object_id=reminder.pk)

    mail_dir, marker = tmp_path / "mail", tmp_path / "hung"
    queue = f"reminder-kill-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "coordination.settings",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_VISIBILITY_TIMEOUT": "3",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "EMAIL_BACKEND": f"{__name__}.HangOnceBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
        HANG_MARKER: str(marker),
        "PYTHONPATH": str(ROOT),
        "CONN_MAX_AGE": "0",
    }
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    workers: list[tuple[subprocess.Popen[bytes], Path]] = []
    old_eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        first = start_worker(env, queue, tmp_path / "worker1.log", "first")
        workers.append((first, tmp_path / "worker1.log"))
        task_id = send_outbox_message.apply_async(args=[message.pk], queue=queue).id

        wait_for(marker.exists, "the first worker to start sending", workers)
        message.refresh_from_db()
        # Committed before the hand-over: another connection sees it while the worker hangs.
        assert (message.state, message.attempts) == ("sending", 1)
        assert task_id in unacked_task_ids(client)  # delivered, not acknowledged
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(WAIT)

        second = start_worker(env, queue, tmp_path / "worker2.log", "second")
        workers.append((second, tmp_path / "worker2.log"))
        # Redelivered to the second worker, which leaves a row "sending" alone.
        wait_for(lambda: task_id not in unacked_task_ids(client), "the redelivery", workers)
        message.refresh_from_db()
        assert message.state == "sending"

        # The flush (beat, every minute) finds it left "sending" too long and queues it again.
        OutboxMessage.objects.filter(pk=message.pk).update(
            sending_since=timezone.now() - SENDING_TIMEOUT - dt.timedelta(seconds=1)
        )
        assert outbox_flush().released == 1
        send_outbox_message.apply_async(args=[message.pk], queue=queue)

        def sent() -> bool:
            reminder.refresh_from_db()
            return reminder.outcome == "sent"

        wait_for(sent, "the second worker to send the reminder", workers)
    finally:
        app.conf.task_always_eager = old_eager
        for proc, _log in workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(WAIT)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
        client.delete(queue)

    [eml] = mail_dir.glob("*.eml")
    assert message.message_id.encode() in eml.read_bytes()
    message.refresh_from_db()
    assert (message.state, message.attempts) == ("sent", 2)
    reminder.refresh_from_db()
    assert (reminder.outcome, reminder.attempts, reminder.recipient) == ("sent", 2, "institution")
    events = CaseEvent.objects.filter(case=referral.case, kind=CaseEvent.Kind.REMINDER)
    assert list(events.values_list("transition", "reason")) == [("r1", "sent")]
