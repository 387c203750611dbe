"""The app configurations of django-axes and django-otp's TOTP plugin, with a name for the
Django admin: theirs have none, so the admin showed "AXES" and "OTP_TOTP". INSTALLED_APPS
names these classes instead of the packages."""

from axes.apps import AppConfig as AxesAppConfig
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.apps import DefaultConfig as TotpConfig


class LoginAttemptsConfig(AxesAppConfig):
    verbose_name = _("Login attempts")


class SecondFactorConfig(TotpConfig):
    verbose_name = _("Second factor (authenticator app)")
