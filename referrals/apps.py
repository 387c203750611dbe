from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReferralsConfig(AppConfig):
    name = "referrals"
    verbose_name = _("Referrals")

    def ready(self) -> None:
        # The outbox asks whether a reminder is still wanted and reports how its mails went.
        from referrals.reminders import register_outbox_kinds

        register_outbox_kinds()
