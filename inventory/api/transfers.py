"""Transfers (API.md "Transfers"): request, then the lifecycle verbs. Thin views over
`inventory.transfers`; the source side approves and ships, the destination receives. A
partner sees and acts only on the transfers its own system asked for (others are 404)."""

import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory import selectors, transfers
from inventory.models import Transfer
from inventory.states import TransferStatus
from retailops.access import Scope, location_scope, partner_system_code
from retailops.filters import FilterSet
from retailops.idempotency import idempotent

_CODE = {"max_length": 64}


class TransferLineInSerializer(serializers.Serializer):
    sku = serializers.CharField(**_CODE)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)


class ReceivedLineInSerializer(serializers.Serializer):
    sku = serializers.CharField(**_CODE)
    quantity = serializers.IntegerField(min_value=0, max_value=1_000_000, help_text="Units that arrived.")


class TransferInSerializer(serializers.Serializer):
    from_location = serializers.CharField(**_CODE)
    to_location = serializers.CharField(**_CODE)
    lines = TransferLineInSerializer(many=True, min_length=1, max_length=transfers.MAX_LINES)
    reference = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    expected_at = serializers.DateTimeField(required=False, allow_null=True, default=None,
                                            help_text="Addition: expected arrival; by default "
                                                      "TRANSFER_TRANSIT_HOURS after shipping.")


class ReceiveInSerializer(serializers.Serializer):
    lines = ReceivedLineInSerializer(many=True, max_length=transfers.MAX_LINES,
                                     help_text="Units received per SKU; a SKU not listed received 0.")
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class TransferNoteInSerializer(serializers.Serializer):
    """The body may be empty or `{}`; a note, when given, is recorded with the change."""

    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class TransferLineSerializer(serializers.Serializer):
    sku = serializers.CharField(source="sku.code")
    quantity = serializers.IntegerField()
    shipped = serializers.IntegerField()
    received = serializers.IntegerField(allow_null=True)


class TransferSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    status = serializers.ChoiceField(choices=TransferStatus.choices)
    from_location = serializers.CharField(source="source.code")
    to_location = serializers.CharField(source="destination.code")
    reference = serializers.CharField()
    note = serializers.CharField()
    expected_at = serializers.DateTimeField(allow_null=True)
    requested_by = serializers.CharField(source="requested_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    approved_at = serializers.DateTimeField(allow_null=True)
    shipped_at = serializers.DateTimeField(allow_null=True)
    received_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)
    lines = TransferLineSerializer(many=True)


class TransferFilter(FilterSet):
    status = django_filters.ChoiceFilter(choices=TransferStatus.choices)
    from_location = django_filters.CharFilter(field_name="source__code")
    to_location = django_filters.CharFilter(field_name="destination__code")

    class Meta:
        model = Transfer
        fields = ["status", "from_location", "to_location"]


class TransfersApiView(APIView):
    required_scope = Scope.TRANSFERS

    def visible(self):
        return selectors.transfers_for(scope=location_scope(self.request),
                                       source_system=partner_system_code(self.request))

    def visible_transfer(self, transfer_id: int) -> Transfer:
        return get_object_or_404(self.visible(), pk=transfer_id)

    def respond(self, transfer_id: int, *, http_status: int = status.HTTP_200_OK) -> Response:
        return Response(TransferSerializer(self.visible_transfer(transfer_id)).data, status=http_status)


@extend_schema_view(get=extend_schema(summary="Addition: list transfers from or to the caller's locations "
                                               "(a partner: those its system asked for)"))
class TransferListCreateView(generics.ListAPIView, TransfersApiView):
    staff_permissions = {"GET": ("inventory.view_transfer",), "POST": ("inventory.add_transfer",)}
    serializer_class = TransferSerializer
    filterset_class = TransferFilter

    def get_queryset(self):
        return self.visible()

    @extend_schema(summary="Request a transfer between two locations", request=TransferInSerializer,
                   responses={201: TransferSerializer})
    @idempotent
    def post(self, request):
        data = TransferInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        transfer = transfers.transfer_request(
            from_code=params["from_location"], to_code=params["to_location"],
            lines=[transfers.LineInput(**line) for line in params["lines"]], reference=params["reference"],
            note=params["note"], expected_at=params["expected_at"], actor=request.user,
            scope=location_scope(request), source_system=partner_system_code(request) or "",
        )
        return self.respond(transfer.pk, http_status=status.HTTP_201_CREATED)


class TransferDetailView(TransfersApiView):
    staff_permissions = {"GET": ("inventory.view_transfer",)}

    @extend_schema(summary="Addition: read one transfer", responses={200: TransferSerializer})
    def get(self, request, transfer_id: int):
        return self.respond(transfer_id)


class TransferActionView(TransfersApiView):
    """One lifecycle verb: parse the note, find the transfer in scope, call the service."""

    staff_permissions = {"POST": ("inventory.change_transfer",)}
    input_serializer = TransferNoteInSerializer
    service = None

    def act(self, transfer: Transfer, params: dict) -> None:
        self.service(transfer=transfer, actor=self.request.user, scope=location_scope(self.request),
                           note=params["note"])

    def handle(self, request, transfer_id: int) -> Response:
        data = self.input_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        self.act(self.visible_transfer(transfer_id), data.validated_data)
        return self.respond(transfer_id)


class TransferApproveView(TransferActionView):
    service = staticmethod(transfers.transfer_approve)

    @extend_schema(summary="Addition: the source side accepts the request", request=TransferNoteInSerializer,
                   responses={200: TransferSerializer})
    @idempotent
    def post(self, request, transfer_id: int):
        return self.handle(request, transfer_id)


class TransferShipView(TransferActionView):
    service = staticmethod(transfers.transfer_ship)

    @extend_schema(summary="Ship: source on_hand −q, destination incoming +q (approves a requested transfer)",
                   request=TransferNoteInSerializer, responses={200: TransferSerializer})
    @idempotent
    def post(self, request, transfer_id: int):
        return self.handle(request, transfer_id)


class TransferReceiveView(TransferActionView):
    input_serializer = ReceiveInSerializer

    def act(self, transfer: Transfer, params: dict) -> None:
        transfers.transfer_receive(transfer=transfer, actor=self.request.user, scope=location_scope(self.request),
                                   lines=[transfers.LineInput(**line) for line in params["lines"]],
                                   note=params["note"])

    @extend_schema(summary="Receive: destination incoming −shipped, on_hand +received; a short or over "
                           "receipt opens a transfer_variance case",
                   request=ReceiveInSerializer, responses={200: TransferSerializer})
    @idempotent
    def post(self, request, transfer_id: int):
        return self.handle(request, transfer_id)


class TransferCloseView(TransferActionView):
    service = staticmethod(transfers.transfer_close)

    @extend_schema(summary="Addition: close a received transfer", request=TransferNoteInSerializer,
                   responses={200: TransferSerializer})
    @idempotent
    def post(self, request, transfer_id: int):
        return self.handle(request, transfer_id)


class TransferCancelView(TransferActionView):
    service = staticmethod(transfers.transfer_cancel)

    @extend_schema(summary="Addition: cancel before shipping (409 invalid_state once shipped)",
                   request=TransferNoteInSerializer, responses={200: TransferSerializer})
    @idempotent
    def post(self, request, transfer_id: int):
        return self.handle(request, transfer_id)
