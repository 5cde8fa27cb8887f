"""Adjustments (API.md "Adjustments"): staff, or partners with the `events` scope, ask;
finance approves or rejects. Thin views over `inventory.adjustments`."""

import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory import adjustments, selectors
from inventory.models import Adjustment, AdjustmentDecision
from inventory.states import AdjustmentStatus
from retailops.access import Scope, location_scope, partner_system_code
from retailops.filters import FilterSet
from retailops.idempotency import idempotent
from retailops.sessions import PasswordConfirmationRequired, password_confirmation_due

_QUANTITY = {"min_value": -1_000_000_000, "max_value": 1_000_000_000}


class AdjustmentInSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    location = serializers.CharField(max_length=64)
    delta = serializers.IntegerField(**_QUANTITY, help_text="Units to add (> 0) or remove (< 0); never 0.")
    reason = serializers.CharField(max_length=64, help_text="One of the configured reasons (ADJUSTMENT_REASONS).")
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    expected_on_hand = serializers.IntegerField(
        required=False, allow_null=True, default=None, **_QUANTITY,
        help_text="Compare-and-set: refused with 409 `stale_quantity` unless on-hand is exactly this.")
    reference = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    root_cause = serializers.CharField(max_length=64, required=False, allow_blank=True, default="",
                                       help_text="Addition: a root-cause tag (e.g. `receiving_error`).")

    def validate_delta(self, value: int) -> int:
        if value == 0:
            raise serializers.ValidationError("delta must not be 0.", code="invalid_quantity")
        return value


class DecisionInSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="",
                                 help_text="Why; required to reject.")


class DecisionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=AdjustmentDecision.Decision.choices)
    decided_by = serializers.CharField(source="decided_by.username")
    note = serializers.CharField()
    decided_at = serializers.DateTimeField()


class AdjustmentSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    status = serializers.ChoiceField(choices=AdjustmentStatus.choices)
    value = serializers.DecimalField(max_digits=14, decimal_places=2, help_text="|delta| × unit cost.")
    sku = serializers.CharField(source="sku.code")
    location = serializers.CharField(source="location.code")
    delta = serializers.IntegerField()
    reason = serializers.CharField()
    root_cause = serializers.CharField()
    note = serializers.CharField()
    reference = serializers.CharField()
    unit_cost = serializers.DecimalField(max_digits=12, decimal_places=2)
    expected_on_hand = serializers.IntegerField(allow_null=True)
    on_hand_at_request = serializers.IntegerField()
    approvals_required = serializers.IntegerField()
    counted_quantity = serializers.IntegerField(allow_null=True, help_text="Set when made from a count.")
    counted_at = serializers.DateTimeField(allow_null=True)
    requested_by = serializers.CharField(source="requested_by.username", allow_null=True, default=None)
    applied_delta = serializers.IntegerField(allow_null=True, help_text="What was posted (a count may be "
                                                                        "re-derived when applied).")
    applied_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    decisions = DecisionSerializer(many=True)


class AdjustmentFilter(FilterSet):
    status = django_filters.ChoiceFilter(choices=AdjustmentStatus.choices)
    sku = django_filters.CharFilter(field_name="sku__code")
    location = django_filters.CharFilter(field_name="location__code")
    reason = django_filters.CharFilter()

    class Meta:
        model = Adjustment
        fields = ["status", "sku", "location", "reason"]


class AdjustmentsApiView(APIView):
    required_scope = Scope.EVENTS

    def visible(self):
        return selectors.adjustments_for(scope=location_scope(self.request),
                                         source_system=partner_system_code(self.request))

    def visible_adjustment(self, adjustment_id: int) -> Adjustment:
        return get_object_or_404(self.visible(), pk=adjustment_id)

    def respond(self, adjustment_id: int, *, http_status: int = status.HTTP_200_OK) -> Response:
        return Response(AdjustmentSerializer(self.visible_adjustment(adjustment_id)).data, status=http_status)


@extend_schema_view(get=extend_schema(summary="List adjustments (finance: all; store users: their stores)"))
class AdjustmentListCreateView(generics.ListAPIView, AdjustmentsApiView):
    staff_permissions = {"GET": ("inventory.view_adjustment",), "POST": ("inventory.add_adjustment",)}
    serializer_class = AdjustmentSerializer
    filterset_class = AdjustmentFilter

    def get_queryset(self):
        return self.visible()

    @extend_schema(summary="Request an adjustment: applied at once below the approval threshold, "
                           "else pending finance approval",
                   request=AdjustmentInSerializer, responses={201: AdjustmentSerializer})
    @idempotent
    def post(self, request):
        data = AdjustmentInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        adjustment = adjustments.adjustment_request(
            sku_code=params["sku"], location_code=params["location"], delta=params["delta"], reason=params["reason"],
            note=params["note"], expected_on_hand=params["expected_on_hand"], reference=params["reference"],
            root_cause=params["root_cause"], actor=request.user, scope=location_scope(request),
            source_system=partner_system_code(request) or "",
        )
        return self.respond(adjustment.pk, http_status=status.HTTP_201_CREATED)


class AdjustmentDetailView(AdjustmentsApiView):
    staff_permissions = {"GET": ("inventory.view_adjustment",)}

    @extend_schema(summary="Addition: read one adjustment with its decisions",
                   responses={200: AdjustmentSerializer})
    def get(self, request, adjustment_id: int):
        return self.respond(adjustment_id)


class AdjustmentDecisionView(AdjustmentsApiView):
    """Finance only: partner tokens cannot decide (no scope grants it)."""

    required_scope = None
    staff_permissions = {"POST": ("inventory.approve_adjustment",)}


class AdjustmentApproveView(AdjustmentDecisionView):
    @extend_schema(summary="Approve a pending adjustment (finance; never the requester); the last approval "
                           "needed applies it", request=DecisionInSerializer, responses={200: AdjustmentSerializer})
    @idempotent
    def post(self, request, adjustment_id: int):
        data = DecisionInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        adjustment = self.visible_adjustment(adjustment_id)
        if adjustment.needs_two_approvers and password_confirmation_due(request):
            raise PasswordConfirmationRequired()  # a browser session, as on the screen; tokens go on
        adjustments.adjustment_approve(adjustment=adjustment, approver=request.user,
                                       note=data.validated_data["note"])
        return self.respond(adjustment_id)


class AdjustmentRejectView(AdjustmentDecisionView):
    @extend_schema(summary="Reject a pending adjustment with a note (finance; never the requester)",
                   request=DecisionInSerializer, responses={200: AdjustmentSerializer})
    @idempotent
    def post(self, request, adjustment_id: int):
        data = DecisionInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        adjustment = self.visible_adjustment(adjustment_id)
        adjustments.adjustment_reject(adjustment=adjustment, decider=request.user, note=data.validated_data["note"])
        return self.respond(adjustment_id)
