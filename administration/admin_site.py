"""The Django admin as the administrators' tool behind their start page (``/verwaltung/``).

Its titles say what it is ("Ankommen - Verwaltung" with a dash), and "view site" leads back to the
start page. The labels of the packages' models (django-otp, django-axes) that have no German
translation of their own get one from our catalog.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

# django-otp's TOTP device names itself and its fields in plain English strings (not marked for
# translation), so the admin showed "TOTP devices", "throttling failure count" ... in German
# pages. These lazy translations replace them at start-up (``translate_totp_labels``); only
# the display attributes change, not what migrations compare (``Field._verbose_name``).
TOTP_MODEL = (_("TOTP device"), _("TOTP devices"))
TOTP_FIELDS = {
    "user": (_("user"), _("The user that this device belongs to.")),
    "name": (_("name"), _("The human-readable name of this device.")),
    "confirmed": (_("confirmed"), _("Is this device ready for use?")),
    "throttling_failure_timestamp": (
        _("throttling failure timestamp"),
        _("A timestamp of the last failed verification attempt. Null if last attempt succeeded."),
    ),
    "throttling_failure_count": (
        _("throttling failure count"),
        _("Number of successive failed attempts."),
    ),
    "created_at": (
        _("created at"),
        _("The date and time when this device was initially created in the system."),
    ),
    "last_used_at": (_("last used at"), _("The most recent date and time this device was used.")),
    "key": (_("key"), _("A hex-encoded secret key of up to 40 bytes.")),
    "step": (_("step"), _("The time step in seconds.")),
    "t0": (_("t0"), _("The Unix time at which to begin counting steps.")),
    "digits": (_("digits"), _("The number of digits to expect in a token.")),
    "tolerance": (
        _("tolerance"),
        _("The number of time steps in the past or future to allow."),
    ),
    "drift": (
        _("drift"),
        _("The number of time steps the prover is known to deviate from our clock."),
    ),
    "last_t": (
        _("last t"),
        _(
            "The t value of the latest verified token. The next token must be at a higher "
            "time step."
        ),
    ),
}
# django-axes marks its labels for translation, but its German catalog lacks these.
AXES_LABELS = (
    _("access attempt expiration"),
    _("access attempt expirations"),
    _("Session key hash (sha256)"),
    _("Locked Out"),
    _("Access Attempt"),
    _("Expires At"),
    _("The time when access attempt expires and is no longer valid."),
    _("Clean up expired attempts"),
    _("Not set"),
    _("Attempt Remaining"),
)


def translate_totp_labels() -> None:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    meta = TOTPDevice._meta
    meta.verbose_name, meta.verbose_name_plural = TOTP_MODEL  # type: ignore[assignment]
    for name, (label, help_text) in TOTP_FIELDS.items():
        field = meta.get_field(name)
        field.verbose_name = label  # type: ignore[union-attr]
        field.help_text = help_text  # type: ignore[union-attr]


def configure() -> None:
    """Title the admin and point its "view site" link at the administrators' start page."""
    admin.site.site_header = _("Ankommen – administration")  # noqa: RUF001
    admin.site.site_title = _("Ankommen – administration")  # noqa: RUF001
    admin.site.index_title = _("All tables")
    admin.site.site_url = reverse_lazy("administration:start")  # type: ignore[assignment]
    translate_totp_labels()
