"""Staff screens for inventory work (the API's routes are in inventory/api/urls.py)."""

from django.urls import path

from inventory import views

app_name = "inventory"

urlpatterns = [
    path("approvals/", views.approvals, name="approvals"),
    path("approvals/<int:adjustment_id>/approve/", views.approval_approve, name="approve"),
    path("approvals/<int:adjustment_id>/reject/", views.approval_reject, name="reject"),
    path("adjustments/new/", views.adjustment_request, name="adjustment_request"),
    path("counts/", views.count_list, name="counts"),
    path("counts/schedule/", views.count_schedule, name="count_schedule"),
    path("counts/<int:count_id>/", views.count_detail, name="count_detail"),
    path("counts/<int:count_id>/enter/", views.count_entry, name="count_entry"),
    path("counts/<int:count_id>/accept/", views.count_accept, name="count_accept"),
    path("counts/<int:count_id>/recount/", views.count_recount, name="count_recount"),
    path("counts/<int:count_id>/cancel/", views.count_cancel, name="count_cancel"),
    path("transfers/", views.transfer_list, name="transfers"),
    path("transfers/<int:transfer_id>/", views.transfer_detail, name="transfer_detail"),
    path("transfers/<int:transfer_id>/ship/", views.transfer_ship, name="transfer_ship"),
    path("transfers/<int:transfer_id>/receive/", views.transfer_receive, name="transfer_receive"),
]
