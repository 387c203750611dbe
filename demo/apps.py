from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Cross-app demo data: the ``seed_demo`` command (top layer, no models)."""

    name = "demo"
    label = "demo"
    verbose_name = "Demo data"
