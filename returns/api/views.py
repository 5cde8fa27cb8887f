"""Returns (API.md "Returns"): authorise, receive, inspect, refund; finance approves or
rejects a held refund. Thin views over `returns.services` and `returns.refunds`. A
partner sees and acts only on the returns its own system authorised (others are 404);
everyone only on returns at locations in their scope."""

import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from retailops.access import Scope, location_scope, partner_system_code
from retailops.filters import FilterSet
from retailops.idempotency import idempotent
from retailops.sessions import PasswordConfirmationRequired, password_confirmation_due
from returns import refunds, selectors, services
from returns.api import serializers
from returns.models import ReturnAuthorization
from returns.states import RefundStatus, ReturnStatus

_VIEW = ("returns.view_returnauthorization",)
_CHANGE = ("returns.change_returnauthorization",)


class ReturnFilter(FilterSet):
    status = django_filters.ChoiceFilter(choices=ReturnStatus.choices)
    location = django_filters.CharFilter(field_name="location__code")
    external_id = django_filters.CharFilter()

    class Meta:
        model = ReturnAuthorization
        fields = ["status", "location", "external_id"]


class ReturnsApiView(APIView):
    required_scope = Scope.RETURNS

    def visible(self):
        return selectors.returns_for(scope=location_scope(self.request),
                                     source_system=partner_system_code(self.request))

    def visible_return(self, return_id: int) -> ReturnAuthorization:
        return get_object_or_404(self.visible(), pk=return_id)

    def respond(self, return_id: int, *, http_status: int = status.HTTP_200_OK) -> Response:
        return Response(serializers.ReturnSerializer(self.visible_return(return_id)).data, status=http_status)


@extend_schema_view(get=extend_schema(summary="List returns at the caller's locations (a partner: those its "
                                              "system authorised), newest first"))
class ReturnListCreateView(generics.ListAPIView, ReturnsApiView):
    staff_permissions = {"GET": _VIEW, "POST": ("returns.add_returnauthorization",)}
    serializer_class = serializers.ReturnSerializer
    filterset_class = ReturnFilter

    def get_queryset(self):
        return self.visible()

    @extend_schema(summary="Authorise a return; against an order, no more than shipped on it (409 exceeds_shipped). "
                           "The same external_id again: same content → 200, other content → 409 return_exists",
                   request=serializers.ReturnInSerializer,
                   responses={201: serializers.ReturnSerializer, 200: serializers.ReturnSerializer})
    @idempotent
    def post(self, request):
        data = serializers.ReturnInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        authorization, created = services.return_authorize(
            external_id=params["external_id"], location_code=params["location"], order_id=params["order"],
            lines=[services.LineInput(**line) for line in params["lines"]], note=params["note"],
            actor=request.user, scope=location_scope(request), source_system=partner_system_code(request) or "",
        )
        return self.respond(authorization.pk, http_status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ReturnDetailView(ReturnsApiView):
    staff_permissions = {"GET": _VIEW}

    @extend_schema(summary="Read one return", responses={200: serializers.ReturnSerializer})
    def get(self, request, return_id: int):
        return self.respond(return_id)


class ReturnActionView(ReturnsApiView):
    """One verb: parse the body, find the return in scope, call the service."""

    staff_permissions = {"POST": _CHANGE}
    input_serializer = serializers.ReturnNoteInSerializer
    service = None

    def act(self, authorization: ReturnAuthorization, params: dict):
        self.service(authorization=authorization, actor=self.request.user, scope=location_scope(self.request),
                     note=params["note"])

    def handle(self, request, return_id: int) -> Response:
        data = self.input_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        self.act(self.visible_return(return_id), data.validated_data)
        return self.respond(return_id)


class ReturnReceiveView(ReturnActionView):
    input_serializer = serializers.ReturnReceiveInSerializer

    def act(self, authorization, params):
        services.return_receive(authorization=authorization, actor=self.request.user,
                                scope=location_scope(self.request), note=params["note"],
                                lines=[services.LineInput(**line) for line in params["lines"]])

    @extend_schema(summary="Receive: the units arrive in quality_control at the return's location (more than "
                           "authorised → 409 exceeds_expected)",
                   request=serializers.ReturnReceiveInSerializer, responses={200: serializers.ReturnSerializer})
    @idempotent
    def post(self, request, return_id: int):
        return self.handle(request, return_id)


class ReturnInspectView(ReturnActionView):
    input_serializer = serializers.ReturnInspectInSerializer

    def act(self, authorization, params):
        services.return_inspect(authorization=authorization, actor=self.request.user,
                                scope=location_scope(self.request), note=params["note"],
                                lines=[services.InspectionInput(**line) for line in params["lines"]])

    @extend_schema(summary="Inspect: restock makes units available, damaged moves them to damaged, write-off and "
                           "return-to-vendor take them out (more than wait for inspection → 409 exceeds_expected)",
                   request=serializers.ReturnInspectInSerializer, responses={200: serializers.ReturnSerializer})
    @idempotent
    def post(self, request, return_id: int):
        return self.handle(request, return_id)


class ReturnRefundView(ReturnActionView):
    staff_permissions = {"POST": ("returns.add_refund",)}
    input_serializer = serializers.ReturnRefundInSerializer

    @extend_schema(summary="Refund: paid at once (200, refund status refunded; the credit note goes to the ERP "
                           "through the outbox), or held for finance by the approval policy (202, pending_approval)",
                   request=serializers.ReturnRefundInSerializer,
                   responses={200: serializers.ReturnSerializer, 202: serializers.ReturnSerializer})
    @idempotent
    def post(self, request, return_id: int):
        data = self.input_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        refund = refunds.refund_request(authorization=self.visible_return(return_id), actor=request.user,
                                        scope=location_scope(request), amount=data.validated_data["amount"],
                                        note=data.validated_data["note"])
        held = refund.status == RefundStatus.PENDING_APPROVAL
        return self.respond(return_id, http_status=status.HTTP_202_ACCEPTED if held else status.HTTP_200_OK)


class RefundDecisionView(ReturnsApiView):
    """Finance only: partner tokens cannot decide (no scope grants it)."""

    required_scope = None
    staff_permissions = {"POST": ("returns.approve_refund",)}


class RefundApproveView(RefundDecisionView):
    @extend_schema(summary="Addition: approve a held refund (finance; never the requester: 403 self_approval; "
                           "never twice by one person: 403 duplicate_approver); the last approval it needs (two at "
                           "the approval policy's second threshold) pays it",
                   request=serializers.ReturnNoteInSerializer, responses={200: serializers.ReturnSerializer})
    @idempotent
    def post(self, request, return_id: int):
        data = serializers.ReturnNoteInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        authorization = self.visible_return(return_id)
        refund = authorization.current_refund
        if refund is not None and refund.needs_two_approvers and password_confirmation_due(request):
            raise PasswordConfirmationRequired()  # a browser session, as on the screen; tokens go on
        refunds.refund_approve(authorization=authorization, approver=request.user, note=data.validated_data["note"])
        return self.respond(return_id)


class RefundRejectView(RefundDecisionView):
    @extend_schema(summary="Addition: reject a held refund with a note (finance; never the requester)",
                   request=serializers.ReturnNoteInSerializer, responses={200: serializers.ReturnSerializer})
    @idempotent
    def post(self, request, return_id: int):
        data = serializers.ReturnNoteInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        refunds.refund_reject(authorization=self.visible_return(return_id), decider=request.user,
                              note=data.validated_data["note"])
        return self.respond(return_id)


class ReturnCloseView(ReturnActionView):
    service = staticmethod(services.return_close)

    @extend_schema(summary="Addition: close a return once every arrived unit is inspected; closing short opens a "
                           "return_unreconciled case", request=serializers.ReturnNoteInSerializer,
                   responses={200: serializers.ReturnSerializer})
    @idempotent
    def post(self, request, return_id: int):
        return self.handle(request, return_id)


class ReturnCancelView(ReturnActionView):
    service = staticmethod(services.return_cancel)

    @extend_schema(summary="Addition: cancel before anything arrived (409 invalid_state after)",
                   request=serializers.ReturnNoteInSerializer, responses={200: serializers.ReturnSerializer})
    @idempotent
    def post(self, request, return_id: int):
        return self.handle(request, return_id)
