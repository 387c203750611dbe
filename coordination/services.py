"""Write-side operations of the coordination app that views call (one function, one job).

Each runs in a transaction and leaves the audit entry it owes; views only read the request
and choose the response.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from coordination.audit import audit_log
from coordination.models import EnrolmentCode, User

# Enrolment codes: 12 characters of an alphabet without look-alikes (0/O, 1/I/L), 60 bits.
ENROLMENT_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
ENROLMENT_CODE_LENGTH = 12
ENROLMENT_CODE_VALID = dt.timedelta(hours=72)
# Wrong tries before a code is void (an administrator then issues a new one).
ENROLMENT_CODE_MAX_ATTEMPTS = 5


def user_set_language(*, user: User, language: str) -> bool:
    """Store the language the user reads the interface (and their mails) in.

    Only the configured languages are accepted; returns whether it was stored.
    """
    if language not in {code for code, _name in settings.LANGUAGES} or not user.pk:
        return False
    get_user_model().objects.filter(pk=user.pk).update(language=language)
    return True


@transaction.atomic
def otp_device_for_setup(*, user: User) -> TOTPDevice:
    """The user's unconfirmed TOTP device, created on the first visit of the set-up page.

    The user row is locked so that two set-up pages opened at once share one device (and one
    secret) instead of each showing a secret of its own.
    """
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Ankommen", confirmed=False)
    return device


@transaction.atomic
def otp_device_confirm(*, user: User, device: TOTPDevice, token: str) -> bool:
    """Confirm the device with a first code from the user's app; every try is logged."""
    if not device.verify_token(token):
        audit_log(actor=user, action="auth.otp_failed", obj=user, detail={"step": "setup"})
        return False
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    audit_log(actor=user, action="auth.otp_setup", obj=user)
    return True


def _normalised_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


@transaction.atomic
def enrolment_code_issue(
    *, user: Any, by: Any = None, via: str = "admin"
) -> tuple[str, dt.datetime]:
    """A new one-time enrolment code for ``user`` (returned once, stored as a hash only).

    Any earlier unused code of the user becomes void.
    """
    code = "".join(secrets.choice(ENROLMENT_CODE_ALPHABET) for _i in range(ENROLMENT_CODE_LENGTH))
    EnrolmentCode.objects.filter(user=user, used_at__isnull=True).delete()
    row = EnrolmentCode.objects.create(
        user=user,
        code_hash=make_password(code),
        issued_by=by if getattr(by, "is_authenticated", False) else None,
        expires_at=timezone.now() + ENROLMENT_CODE_VALID,
    )
    audit_log(
        actor=by,
        actor_name=None if by is not None else f"manage.py ({via})",
        action="auth.enrolment_code_issued",
        obj=user,
        detail={"via": via, "valid_until": row.expires_at.isoformat()},
    )
    grouped = "-".join(code[i : i + 4] for i in range(0, len(code), 4))
    return grouped, row.expires_at


@transaction.atomic
def enrolment_code_redeem(*, user: Any, code: str) -> bool:
    """Use the user's enrolment code; True lets them set up their first device.

    The answer is the same for a wrong, expired, used or missing code. Each wrong try counts
    on the code row; after ``ENROLMENT_CODE_MAX_ATTEMPTS`` the code is void.
    """
    now = timezone.now()
    row = (
        EnrolmentCode.objects.select_for_update()
        .filter(user=user, used_at__isnull=True)
        .order_by("-created_at")
        .first()
    )
    live = (
        row is not None
        and row.expires_at > now
        and row.failed_attempts < ENROLMENT_CODE_MAX_ATTEMPTS
    )
    if row is not None and live and check_password(_normalised_code(code), row.code_hash):
        row.used_at = now
        row.save(update_fields=["used_at"])
        # A secret shown before the code was used (a set-up page opened while the role did
        # not yet require the factor) must not become the device: start with a fresh one.
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        audit_log(actor=user, action="auth.enrolment_code_used", obj=user)
        return True
    if row is None:
        reason = "none"
    elif not live:
        reason = "expired" if row.expires_at <= now else "too_many_attempts"
    else:
        reason = "wrong"
        row.failed_attempts += 1
        row.save(update_fields=["failed_attempts"])
    # The reason is for the administrators reading the log; the user sees one message.
    audit_log(actor=user, action="auth.enrolment_code_failed", obj=user, detail={"reason": reason})
    return False
