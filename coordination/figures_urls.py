from django.urls import path

from coordination import figures_views

urlpatterns = [
    path("", figures_views.figures, name="figures"),
    path("export/", figures_views.figures_export, name="figures_export"),
    path("print/", figures_views.figures_print, name="figures_print"),
]
