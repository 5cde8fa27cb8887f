"""Snapshots in, reconciliations out: thin views over reconciliation.services/selectors.

`POST /snapshots` reads its body as a stream (`request.stream`), never `request.data`:
a snapshot may be a million lines, far past DATA_UPLOAD_MAX_MEMORY_SIZE, and is parsed
line by line while it is stored.
"""

import io

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiRequest, extend_schema, extend_schema_view
from rest_framework import exceptions, generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.models import InventorySnapshot
from integrations.snapshot_formats import CSV, JSON, JSON_LINES, MEDIA_TYPES, snapshot_document
from reconciliation import selectors, services
from reconciliation.api import filters, serializers
from reconciliation.models import ReconciliationLine
from retailops.access import Scope, location_scope, partner_client

_VIEW_RUN = ("reconciliation.view_reconciliationrun",)

_CSV_EXAMPLE = "sku,location,on_hand\nSKU-1,DC1,12\nSKU-2,DC1,0\n"
_JSON_LINES_EXAMPLE = '{"sku": "SKU-1", "location": "DC1", "on_hand": 12}\n'


class SnapshotCreateView(APIView):
    required_scope = Scope.SNAPSHOTS  # partners only: staff upload on the review screens

    @extend_schema(
        summary="Send a stock snapshot; it is stored and reconciled against the ledger as of its time",
        description=(
            "The body is one of: `application/json` `{\"as_of\", \"lines\": [{\"sku\", \"location\", "
            "\"on_hand\"}]}`; `application/x-ndjson` (one line object per line); `text/csv` with the header "
            "`sku,location,on_hand`. For the last two, `as_of` is the query parameter (JSON may use it too). "
            "Up to 1,000,000 lines, read as a stream. A malformed snapshot is refused whole (400 "
            "`invalid_snapshot`, `errors[0].field` naming the first bad row: `lines[17].on_hand`, `line 18`, "
            "`row 18`); a line at a known location outside the token's location scope refuses it too (403 "
            "`location_out_of_scope`); location codes the ledger does not know are accepted and listed as "
            "`missing_in_ledger`. The same content for the same `as_of` again answers 200 with the same ids."
        ),
        request={
            JSON: serializers.SnapshotInSerializer,
            JSON_LINES[0]: OpenApiRequest(OpenApiTypes.STR, examples=[
                OpenApiExample("JSON lines", value=_JSON_LINES_EXAMPLE, media_type=JSON_LINES[0])]),
            CSV: OpenApiRequest(OpenApiTypes.STR, examples=[
                OpenApiExample("CSV", value=_CSV_EXAMPLE, media_type=CSV)]),
        },
        parameters=[OpenApiParameter("as_of", OpenApiTypes.DATETIME, OpenApiParameter.QUERY, required=False,
                                     description="When the quantities were true (CSV and JSON lines bodies).")],
        responses={202: serializers.SnapshotAcceptedSerializer, 200: serializers.SnapshotAcceptedSerializer},
    )
    def post(self, request):
        media_type = (request.content_type or "").split(";")[0].strip().lower()
        if media_type not in MEDIA_TYPES:
            raise exceptions.UnsupportedMediaType(media_type or "none")
        client = partner_client(request)
        stream = request.stream if request.stream is not None else io.BytesIO(b"")
        document = snapshot_document(media_type, stream, as_of=request.query_params.get("as_of"))
        run, created = services.snapshot_submit(
            system=client.external_system, document=document, source=InventorySnapshot.Source.API,
            sent_by=request.user, api_client=client, scope=location_scope(request))
        body = {"id": run.snapshot_id, "status": run.status, "reconciliation": run.pk,
                "lines": run.snapshot.line_count}
        return Response(serializers.SnapshotAcceptedSerializer(body).data,
                        status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)


class ReconciliationApiView(APIView):
    required_scope = Scope.SNAPSHOTS
    staff_permissions = {"GET": _VIEW_RUN}

    def visible_runs(self):
        client = partner_client(self.request)
        return selectors.runs_for(system_id=client.external_system_id if client else None)

    def visible_run(self, run_id: int):
        return get_object_or_404(self.visible_runs(), pk=run_id)


@extend_schema_view(get=extend_schema(summary="List reconciliation runs, newest first"))
class RunListView(generics.ListAPIView, ReconciliationApiView):
    serializer_class = serializers.RunSerializer
    filterset_class = filters.RunFilter

    def get_queryset(self):
        return self.visible_runs()


class RunDetailView(ReconciliationApiView):
    @extend_schema(summary="Read a reconciliation run and its summary", responses={200: serializers.RunSerializer})
    def get(self, request, run_id: int):
        return Response(serializers.RunSerializer(self.visible_run(run_id)).data)


@extend_schema_view(get=extend_schema(summary="List a run's lines, costliest first (value, then id)"))
class RunLinesView(generics.ListAPIView, ReconciliationApiView):
    serializer_class = serializers.LineSerializer
    filterset_class = filters.LineFilter
    cursor_ordering = ("-value", "id")

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no run
            return ReconciliationLine.objects.none()
        run = self.visible_run(self.kwargs["run_id"])
        client = partner_client(self.request)
        return selectors.run_lines_for(run=run, scope=location_scope(self.request),
                                       unknown_locations=client is not None)
