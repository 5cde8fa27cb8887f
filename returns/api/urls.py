from django.urls import path

from returns.api import views

urlpatterns = [
    path("returns", views.ReturnListCreateView.as_view(), name="return-list"),
    path("returns/<int:return_id>", views.ReturnDetailView.as_view(), name="return-detail"),
    path("returns/<int:return_id>/receive", views.ReturnReceiveView.as_view(), name="return-receive"),
    path("returns/<int:return_id>/inspect", views.ReturnInspectView.as_view(), name="return-inspect"),
    path("returns/<int:return_id>/refund", views.ReturnRefundView.as_view(), name="return-refund"),
    path("returns/<int:return_id>/refund/approve", views.RefundApproveView.as_view(), name="return-refund-approve"),
    path("returns/<int:return_id>/refund/reject", views.RefundRejectView.as_view(), name="return-refund-reject"),
    path("returns/<int:return_id>/close", views.ReturnCloseView.as_view(), name="return-close"),
    path("returns/<int:return_id>/cancel", views.ReturnCancelView.as_view(), name="return-cancel"),
]
