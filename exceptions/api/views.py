"""Cases over the API: staff read every case in their location scope; a partner reads
the cases about its own data (its events, its syncs) at its locations."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics

from exceptions import selectors
from exceptions.api import filters, serializers
from retailops.access import Scope, location_scope, partner_client


@extend_schema(summary="List cases (highest id first)")
class CaseListView(generics.ListAPIView):
    required_scope = Scope.EVENTS
    staff_permissions = {"GET": ("exceptions.view_case",)}
    serializer_class = serializers.CaseSerializer
    filterset_class = filters.CaseFilter

    def get_queryset(self):
        cases = selectors.cases_for(scope=location_scope(self.request))
        client = partner_client(self.request)
        if client is not None:
            cases = cases.filter(source=client.external_system.code)
        return cases.select_related("sku", "location", "assignee", "subject_type")
