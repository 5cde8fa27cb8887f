"""Staff screens for reconciliation review and snapshot upload (the API's routes are in
reconciliation/api/)."""

from django.urls import path

from reconciliation import views

app_name = "reconciliation"

urlpatterns = [
    path("", views.run_list, name="runs"),
    path("upload/", views.snapshot_upload, name="upload"),
    path("<int:run_id>/", views.run_detail, name="run"),
    path("<int:run_id>/lines.csv", views.run_export, name="export"),
    path("<int:run_id>/decide/", views.run_decide, name="decide"),
    path("<int:run_id>/retry/", views.run_retry, name="retry"),
    path("lines/<int:line_id>/", views.line_detail, name="line"),
]
