from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AdministrationConfig(AppConfig):
    name = "administration"
    verbose_name = _("Administration")

    def ready(self) -> None:
        from django.apps import apps

        from administration import admin_site
        from coordination import audit_text

        admin_site.configure()
        # The audit log names objects and fields of every app by their verbose names.
        audit_text.register_models(apps.get_models())
