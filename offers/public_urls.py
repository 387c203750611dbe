"""The public offers page: no login (see offers/public_views.py)."""

from django.urls import path

from offers import public_views

app_name = "angebote"
urlpatterns = [
    path("", public_views.public_list, name="list"),
    path("<int:district_pk>/flyer/", public_views.public_flyer, name="flyer"),
]
