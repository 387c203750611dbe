from django.contrib import admin
from django.urls import include, path

from coordination import audit_views, otp_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("language/", views.set_language, name="set_language"),
    path("otp/enrol/", otp_views.otp_enrol, name="otp_enrol"),
    path("otp/setup/", otp_views.otp_setup, name="otp_setup"),
    path("otp/verify/", otp_views.otp_verify, name="otp_verify"),
    path("audit/", audit_views.audit_search, name="audit_search"),
    path("audit/export.csv", audit_views.audit_export, name="audit_export"),
    path("cases/", include("cases.urls")),
    path("referrals/", include("referrals.urls")),
    path("offers/", include("offers.urls")),
    path("angebote/", include("offers.public_urls")),
    path("figures/", include("monitoring.urls")),
    path("transfer/", include("transfer.urls")),
    path("verwaltung/", include("administration.urls")),
    path("admin/", admin.site.urls),
]

handler403 = "coordination.errors.permission_denied"
handler404 = "coordination.errors.page_not_found"
handler500 = "coordination.errors.server_error"
