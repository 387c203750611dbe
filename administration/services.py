"""The administrators' actions on their start page."""

from __future__ import annotations

from typing import Any

from axes.utils import reset
from django.db import transaction

from coordination.audit import audit_log
from coordination.models import User


def account_unlock(*, by: Any, username: str) -> int:
    """Lift the login lock of ``username`` (all its failed attempts, from every address)
    before the cool-off ends; recorded in the audit log. Returns the attempts removed."""
    with transaction.atomic():
        removed = reset(username=username)
        user = User.objects.filter(username=username).only("pk").first()
        audit_log(
            actor=by,
            action="auth.unlock",
            obj=user,
            object_type="" if user else User._meta.label_lower,
            detail={"username": username[:150], "attempts": removed},
        )
    return removed
