from django.urls import path

from orders.api import views

urlpatterns = [
    path("reservations", views.ReservationCreateView.as_view(), name="reservation-create"),
    path("reservations/<int:reservation_id>", views.ReservationDetailView.as_view(), name="reservation-detail"),
    path("reservations/<int:reservation_id>/release", views.ReservationReleaseView.as_view(),
         name="reservation-release"),
    path("orders", views.OrderListCreateView.as_view(), name="order-list"),
    path("orders/<int:order_id>", views.OrderDetailView.as_view(), name="order-detail"),
    path("orders/<int:order_id>/cancel", views.OrderCancelView.as_view(), name="order-cancel"),
    path("orders/<int:order_id>/ship", views.OrderShipView.as_view(), name="order-ship"),
    path("orders/<int:order_id>/pickup", views.OrderPickupView.as_view(), name="order-pickup"),
    path("orders/<int:order_id>/reallocate", views.OrderReallocateView.as_view(), name="order-reallocate"),
    path("orders/<int:order_id>/acknowledge", views.OrderAcknowledgeView.as_view(), name="order-acknowledge"),
]
