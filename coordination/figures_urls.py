from django.urls import path

from coordination import figures_views

urlpatterns = [
    path("", figures_views.figures, name="figures"),
]
