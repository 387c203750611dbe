from django.urls import path

from referrals import views

app_name = "referrals"
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("places/", views.places, name="places"),
    path("new/<int:case_pk>/", views.create, name="create"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/accept/", views.accept, name="accept"),
    path("<int:pk>/decline/", views.decline, name="decline"),
    path("<int:pk>/enrol/", views.enrol, name="enrol"),
    path("<int:pk>/no-show/", views.no_show, name="no_show"),
    path("<int:pk>/withdraw/", views.withdraw, name="withdraw"),
]
