from django.urls import path

from reconciliation.api import views

urlpatterns = [
    path("snapshots", views.SnapshotCreateView.as_view(), name="snapshot-create"),
    path("reconciliations", views.RunListView.as_view(), name="reconciliation-list"),
    path("reconciliations/<int:run_id>", views.RunDetailView.as_view(), name="reconciliation-detail"),
    path("reconciliations/<int:run_id>/lines", views.RunLinesView.as_view(), name="reconciliation-lines"),
]
