"""The Celery app. The beat schedule is static, in settings (CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coordination.settings")

app = Celery("ankommen")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The outbox's tasks live in a module of their own, beside ``coordination.tasks``.
app.autodiscover_tasks(["coordination"], related_name="outbox_tasks")


@app.task(name="coordination.ping")
def ping() -> str:
    """A no-op round trip, used by the health check and the broker tests."""
    return "pong"
