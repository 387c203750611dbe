"""The figures pages under /figures/ (URL names: figures, figures_export, figures_print)."""

from django.urls import path

from monitoring import views

urlpatterns = [
    path("", views.figures, name="figures"),
    path("export/", views.figures_export, name="figures_export"),
    path("print/", views.figures_print, name="figures_print"),
]
