from django.urls import path

from administration import views

app_name = "administration"
urlpatterns = [
    path("", views.start, name="start"),
    path("entsperren/", views.unlock, name="unlock"),
]
