"""The least a checkout hold through the partner API can cost: a DRF view with the
project's authentication, scope check, throttle, parser, problem responses and
middleware, whose whole work is the raw floor's guarded statement.

It keeps none of a hold's promises (no sourcing, no allocation or its history, no
movement, no outbox message, no case on failure), so it is not a way to hold stock: it
measures how far the web stack alone stands from the raw floor, in the same run as the
app, so that the hold's figure can be read against what any hold could reach here.
"""

from django.db import connection
from django.urls import path
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from backoffice.urls import urlpatterns as app_urlpatterns
from inventory.errors import InsufficientStock
from retailops.access import Scope

GUARDED = (
    "UPDATE inventory_stocklevel l SET committed = l.committed + 1 FROM inventory_sku s, inventory_location loc "
    "WHERE s.code = %s AND loc.code = %s AND l.sku_id = s.id AND l.location_id = loc.id "
    "AND l.on_hand - l.committed - l.damaged - l.quality_control - l.safety_stock >= 1"
)
LOCATION = "DC-NORTH"


class CeilingHoldView(APIView):
    required_scope = Scope.ORDERS

    def post(self, request):
        sku = request.data["sku"]
        with connection.cursor() as cursor:
            cursor.execute(GUARDED, [sku, LOCATION])
            held = cursor.rowcount
        if not held:
            raise InsufficientStock(f"1 × '{sku}' requested, none available.")
        return Response({"sku": sku, "location": LOCATION, "quantity": 1}, status=status.HTTP_201_CREATED)


urlpatterns = [path("bench/ceiling-hold", CeilingHoldView.as_view()), *app_urlpatterns]
