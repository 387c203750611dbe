"""django-otp's admin for TOTP devices, in our language and with accessible fields.

Its section titles and search help are plain English strings ("Identity", "State", "Search
by user"), and the throttling timestamp is a split date/time field without labels (axe:
critical). The subclass translates them and shows the timestamp read-only: it is set by the
verification, not by hand. Everything else (the hidden secret, the refused QR code and
configuration pages) is the package's.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

SECTION_TITLES = {
    "Identity": _("Device"),
    "Timestamps": _("Times"),
    "Configuration": _("Configuration"),
    "State": _("Clock drift"),
    "Throttling": _("Wrong codes"),
}


class SecondFactorDeviceAdmin(TOTPDeviceAdmin):
    search_help_text = _("Search by user name or e-mail address.")
    readonly_fields = [*TOTPDeviceAdmin.readonly_fields, "throttling_failure_timestamp"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        return [
            (SECTION_TITLES.get(title, title) if title else None, options)
            for title, options in super().get_fieldsets(request, obj)
        ]


admin.site.unregister(TOTPDevice)
admin.site.register(TOTPDevice, SecondFactorDeviceAdmin)
