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
