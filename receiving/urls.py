"""Staff screens for receiving (the API's routes are in receiving/api/urls.py)."""

from django.urls import path

from receiving import views

app_name = "receiving"

urlpatterns = [
    path("", views.receiving_index, name="index"),
    path("<int:asn_id>/", views.asn_receive_screen, name="receive"),
]
