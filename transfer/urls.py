"""Import and export pages under /transfer/ (namespace ``transfer``)."""

from django.urls import path

from transfer import views

app_name = "transfer"
urlpatterns = [
    path("", views.index, name="index"),
    path("upload/", views.upload, name="upload"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/columns/", views.mapping, name="mapping"),
    path("<int:pk>/confirm/", views.confirm, name="confirm"),
    path("<int:pk>/discard/", views.discard, name="discard"),
    path("export/", views.export, name="export"),
]
