from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReferralsConfig(AppConfig):
    name = "referrals"
    verbose_name = _("Referrals")

    def ready(self) -> None:
        # The referrals' part of a case (open referral, full record, Art. 15, erasure).
        from cases.extensions import register
        from referrals.case_extension import REFERRALS_EXTENSION

        register(REFERRALS_EXTENSION)

        # The outbox asks whether a reminder is still wanted and reports how its mails went.
        from referrals.reminders import register_outbox_kinds

        register_outbox_kinds()
