"""Staff screens for returns (the API's routes are in returns/api/urls.py)."""

from django.urls import path

from returns import views

app_name = "returns"

urlpatterns = [
    path("", views.return_list, name="list"),
    path("desk/", views.desk, name="desk"),
    path("<int:return_id>/", views.detail, name="detail"),
    path("<int:return_id>/receive/", views.receive, name="receive"),
    path("<int:return_id>/inspect/", views.inspect, name="inspect"),
    path("<int:return_id>/close/", views.close, name="close"),
    path("<int:return_id>/refund/approve/", views.refund_approve, name="refund_approve"),
    path("<int:return_id>/refund/reject/", views.refund_reject, name="refund_reject"),
]
