from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OffersConfig(AppConfig):
    name = "offers"
    verbose_name = _("Education offers")

    def ready(self) -> None:
        # The registrations' part of a case (full record, Art. 15); never "open work".
        from cases.extensions import register
        from offers.case_extension import OFFERS_EXTENSION

        register(OFFERS_EXTENSION)
