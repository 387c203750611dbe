"""The Django admin as the administrators' tool behind their start page (``/verwaltung/``).

Its titles say what it is ("Ankommen - Verwaltung" with a dash), and "view site" leads back to the
start page. The labels of the packages' models (django-otp, django-axes) that have no German
translation of their own get one from our catalog: the msgids below are theirs, marked here so
that ``makemessages`` collects them.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

# django-otp's TOTP device (django_otp/plugins/otp_totp/models.py and its base classes) and
# django-axes' fields without a German translation in their packages.
PACKAGE_LABELS = (
    _("TOTP device"),
    _("TOTP devices"),
    _("user"),
    _("name"),
    _("confirmed"),
    _("throttling failure timestamp"),
    _("throttling failure count"),
    _("created at"),
    _("last used at"),
    _("key"),
    _("step"),
    _("t0"),
    _("digits"),
    _("tolerance"),
    _("drift"),
    _("last t"),
    _("access attempt expiration"),
    _("access attempt expirations"),
    _("Session key hash (sha256)"),
)


def configure() -> None:
    """Title the admin and point its "view site" link at the administrators' start page."""
    admin.site.site_header = _("Ankommen – administration")  # noqa: RUF001
    admin.site.site_title = _("Ankommen – administration")  # noqa: RUF001
    admin.site.index_title = _("All tables")
    admin.site.site_url = reverse_lazy("administration:start")  # type: ignore[assignment]
