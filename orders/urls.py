"""Staff screens for orders (the API's routes are in orders/api/urls.py)."""

from django.urls import path

from orders import views

app_name = "orders"

urlpatterns = [
    path("", views.order_list, name="list"),
    path("<int:order_id>/", views.order_detail, name="detail"),
    path("<int:order_id>/acknowledge-pickup/", views.order_acknowledge_pickup, name="acknowledge_pickup"),
    path("<int:order_id>/pickup/", views.order_pickup, name="pickup"),
    path("<int:order_id>/ship/", views.order_ship, name="ship"),
    path("<int:order_id>/reallocate/", views.order_reallocate, name="reallocate"),
    path("<int:order_id>/cancel/", views.order_cancel, name="cancel"),
]
