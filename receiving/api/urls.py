from django.urls import path

from receiving.api import views

urlpatterns = [
    path("asns", views.AsnCreateView.as_view(), name="asn-create"),
    path("asns/<int:asn_id>", views.AsnDetailView.as_view(), name="asn-detail"),
    path("asns/<int:asn_id>/receive", views.AsnReceiveView.as_view(), name="asn-receive"),
    path("asns/<int:asn_id>/close", views.AsnCloseView.as_view(), name="asn-close"),
    path("asns/<int:asn_id>/cancel", views.AsnCancelView.as_view(), name="asn-cancel"),
]
