from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from backoffice import dashboard, mfa, password, preferences, views
from retailops import health, problems

dashboard_urls = ([
    path("", dashboard.dashboard, name="index"),
    path("<slug:key>.csv", dashboard.figure_csv, name="csv"),
    path("counted-lines/", dashboard.count_lines, name="count_lines"),
    path("adjustments/", dashboard.adjustments, name="adjustments"),
    path("reconciliation-runs/", dashboard.reconciliation_runs, name="reconciliation_runs"),
], "dashboard")

api_v1 = [
    path("", include("integrations.api.urls")),
    path("", include("inventory.api.urls")),
    path("", include("orders.api.urls")),
    path("", include("returns.api.urls")),
    path("", include("receiving.api.urls")),
    path("", include("reconciliation.api.urls")),
    path("", include("exceptions.api.urls")),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("confirm-password/", password.confirm_password, name="confirm_password"),
    path("sign-in/code/", mfa.verify, name="mfa_verify"),
    path("sign-in/authenticator/", mfa.enrol, name="mfa_enrol"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file: the CSP allows no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^api/", problems.api_not_found, name="api-not-found"),  # last under /api/: problem+json, every mode
    path("admin/", admin.site.urls),
    path("orders/", include("orders.urls")),
    path("cases/", include("casework.urls")),
    path("integrations/", include("connectors.urls")),
    path("inventory/", include("inventory.urls")),
    path("returns/", include("returns.urls")),
    path("receiving/", include("receiving.urls")),
    path("reconciliation/", include("reconciliation.urls")),
    path("dashboard/", include(dashboard_urls)),
    path("notifications/", preferences.preferences, name="notification_preferences"),
]

handler400 = "retailops.problems.bad_request"
handler404 = "retailops.problems.page_not_found"
handler500 = "retailops.problems.server_error"
