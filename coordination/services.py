"""Write-side operations of the coordination app that views call (one function, one job).

Each runs in a transaction and leaves the audit entry it owes; views only read the request
and choose the response.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from coordination.audit import audit_log
from coordination.models import User


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
