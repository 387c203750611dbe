from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """Anonymised figures ("Bildungsmonitoring"): the top layer, reads cases and referrals."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "monitoring"
    label = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        # The figures' tasks by name (``refresh.queue_computation`` looks them up there), and
        # the signal that clears the cached list of districts.
        from monitoring import cache, tasks  # noqa: F401
