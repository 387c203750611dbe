from django.urls import path

from cases import views

app_name = "cases"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("list/", views.case_list, name="list"),
    path("new/", views.register, name="register"),
    path("<int:pk>/", views.detail, name="detail"),
]
