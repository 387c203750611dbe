from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TransferConfig(AppConfig):
    """Moving in and out: imports of an office's lists and the full export (top layer)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "transfer"
    label = "transfer"
    verbose_name = _("Import and export")

    def ready(self) -> None:
        from transfer import tasks  # noqa: F401  (the import and clean-up tasks by name)
