from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoordinationConfig(AppConfig):
    name = "coordination"
    verbose_name = _("Coordination")

    def ready(self) -> None:
        # Audit-log receivers: logins (success, failure, logout, lock-out), role and object
        # permission changes, and every Django admin change.
        from coordination import audit_text, signals

        signals.connect()
        # The base's own models; the top app registers all the others (coordination/audit_text.py).
        audit_text.register_models(self.get_models())
