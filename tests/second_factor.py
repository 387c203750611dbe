"""Logging a test client in past the second factor, which administrators must use by default."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice


def log_in(client: Client, user: Any) -> Client:
    """``client.force_login(user)``; a user who must use a second factor also gets a device
    and a session verified with it, as if they had entered its code."""
    from coordination.otp_views import second_factor_required

    client.force_login(user)
    if second_factor_required(user):
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client
