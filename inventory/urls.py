"""Staff screens for inventory work (the API's routes are in inventory/api/urls.py)."""

from django.urls import path

from inventory import stock_views, views

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
    path("stock/", stock_views.stock_search, name="stock"),
    path("stock/export.csv", stock_views.stock_search_export, name="stock_export"),
    path("stock/<str:sku_code>/at/<str:location_code>/", stock_views.stock_level, name="stock_level"),
    path("stock/<str:sku_code>/at/<str:location_code>/movements.csv", stock_views.stock_level_export,
         name="stock_level_export"),
    path("events/<int:event_id>/", stock_views.event_detail, name="event_detail"),
    path("adjustments/<int:adjustment_id>/", stock_views.adjustment_detail, name="adjustment_detail"),
    path("locations/<str:location_code>/", stock_views.location_detail, name="location_detail"),
    path("locations/<str:location_code>/rescore/", stock_views.location_rescore, name="location_rescore"),
]
