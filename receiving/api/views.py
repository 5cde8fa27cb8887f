"""Supplier receipts (API.md "Supplier receipts"): thin views over `receiving.services`.
A partner sees and acts only on the notices its own system sent (others are 404), at the
locations of its token; staff at their locations."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from receiving import selectors, services
from receiving.api import serializers
from receiving.models import Asn
from retailops.access import Scope, location_scope, partner_system_code
from retailops.idempotency import idempotent


class AsnApiView(APIView):
    required_scope = Scope.RECEIPTS

    def visible(self):
        return selectors.asns_with_lines(selectors.asns_for(scope=location_scope(self.request),
                                                            source_system=partner_system_code(self.request)))

    def visible_asn(self, asn_id: int) -> Asn:
        return get_object_or_404(self.visible(), pk=asn_id)

    def respond(self, asn_id: int, *, http_status: int = status.HTTP_200_OK) -> Response:
        return Response(serializers.AsnSerializer(self.visible_asn(asn_id)).data, status=http_status)


class AsnCreateView(AsnApiView):
    staff_permissions = {"POST": ("receiving.add_asn",)}

    @extend_schema(summary="Announce a supplier delivery (its units show as incoming at the location)",
                   request=serializers.AsnInSerializer,
                   responses={201: serializers.AsnSerializer, 200: serializers.AsnSerializer})
    @idempotent
    def post(self, request):
        data = serializers.AsnInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        asn, created = services.asn_create(
            actor=request.user, scope=location_scope(request), source_system=partner_system_code(request) or "",
            external_id=params["external_id"], location_code=params["location"], expected_at=params["expected_at"],
            lines=[services.AsnLineInput(**line) for line in params["lines"]], supplier=params["supplier"],
            purchase_order=params["purchase_order"],
        )
        return self.respond(asn.pk, http_status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class AsnDetailView(AsnApiView):
    staff_permissions = {"GET": ("receiving.view_asn",)}

    @extend_schema(summary="Read a notice: status, lines with expected and received, ERP posting",
                   responses={200: serializers.AsnSerializer})
    def get(self, request, asn_id: int):
        return self.respond(asn_id)


class AsnReceiveView(AsnApiView):
    staff_permissions = {"POST": ("receiving.change_asn",)}

    @extend_schema(summary="Receive against a notice: incoming −expected, on_hand +received; any over, short, "
                           "damaged or unexpected line opens a receipt_variance case; the goods receipt goes "
                           "to the ERP",
                   request=serializers.AsnReceiveInSerializer, responses={200: serializers.AsnSerializer})
    @idempotent
    def post(self, request, asn_id: int):
        data = serializers.AsnReceiveInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        services.asn_receive(asn=self.visible_asn(asn_id), actor=request.user, scope=location_scope(request),
                             lines=[services.ReceiptLineInput(**line) for line in params["lines"]],
                             complete=params["complete"], note=params["note"])
        return self.respond(asn_id)


class AsnCloseView(AsnApiView):
    staff_permissions = {"POST": ("receiving.change_asn",)}

    @extend_schema(summary="Addition: close a received notice", request=serializers.AsnNoteInSerializer,
                   responses={200: serializers.AsnSerializer})
    @idempotent
    def post(self, request, asn_id: int):
        data = serializers.AsnNoteInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.asn_close(asn=self.visible_asn(asn_id), actor=request.user, scope=location_scope(request),
                           note=data.validated_data["note"])
        return self.respond(asn_id)


class AsnCancelView(AsnApiView):
    staff_permissions = {"POST": ("receiving.change_asn",)}

    @extend_schema(summary="Addition: cancel a notice before anything arrived (its units leave incoming)",
                   request=serializers.AsnNoteInSerializer, responses={200: serializers.AsnSerializer})
    @idempotent
    def post(self, request, asn_id: int):
        data = serializers.AsnNoteInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.asn_cancel(asn=self.visible_asn(asn_id), actor=request.user, scope=location_scope(request),
                            note=data.validated_data["note"])
        return self.respond(asn_id)
