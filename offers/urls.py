from django.urls import path

from offers import views

app_name = "offers"
urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("new/", views.edit, name="create"),
    path("<int:pk>/edit/", views.edit, name="edit"),
    path("<int:pk>/places/", views.places, name="places"),
    path("inbox/", views.inbox, name="inbox"),
    path("register/<int:case_pk>/", views.register, name="register"),
    path("registrations/<int:pk>/", views.registration, name="registration"),
    path("registrations/<int:pk>/confirm/", views.confirm, name="confirm"),
    path("registrations/<int:pk>/decline/", views.decline, name="decline"),
    path("registrations/<int:pk>/start/", views.start, name="start"),
    path("registrations/<int:pk>/end/", views.end, name="end"),
    path("registrations/<int:pk>/drop-out/", views.drop_out, name="drop_out"),
    path("registrations/<int:pk>/withdraw/", views.withdraw, name="withdraw"),
]
