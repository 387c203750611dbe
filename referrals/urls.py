from django.urls import path

from referrals import views

app_name = "referrals"
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("places/", views.places, name="places"),
    path("<int:pk>/", views.detail, name="detail"),
]
