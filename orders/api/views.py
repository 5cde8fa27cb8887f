"""Reservations (checkout holds) and orders: thin views over orders.services."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from orders import selectors, services
from orders.api import filters, serializers
from orders.callers import Caller
from retailops.access import Scope
from retailops.idempotency import idempotent
from retailops.serializing import represented, validated

_VIEW_ORDER = ("orders.view_order",)
_CHANGE_ORDER = ("orders.change_order",)


def _order_response(caller: Caller, order_id: int, *, http_status: int = status.HTTP_200_OK) -> Response:
    order = selectors.orders_with_lines(selectors.orders_for(caller=caller)).get(pk=order_id)
    return Response(serializers.OrderDetailSerializer(order).data, status=http_status)


class OrdersApiView(APIView):
    required_scope = Scope.ORDERS

    def caller(self) -> Caller:
        return Caller.from_request(self.request)

    def visible_order(self, order_id: int):
        return get_object_or_404(selectors.orders_for(caller=self.caller()), pk=order_id)

    def visible_reservation(self, reservation_id: int):
        return get_object_or_404(selectors.reservations_for(caller=self.caller()), pk=reservation_id)


class ReservationCreateView(OrdersApiView):
    staff_permissions = {"POST": ("orders.add_allocation",)}

    @extend_schema(summary="Hold stock for a checkout", request=serializers.ReservationInSerializer,
                   responses={201: serializers.ReservationSerializer})
    @idempotent
    def post(self, request):
        # The hottest write partners make: its serializers run through shared instances.
        params = validated(serializers.ReservationInSerializer, request.data)
        hold = services.reservation_create(
            caller=self.caller(), sku_code=params["sku"], quantity=params["quantity"], channel_code=params["channel"],
            location_code=params.get("location"), ttl_seconds=params["ttl_seconds"], reference=params["reference"],
            fulfillment=params["fulfillment"], region=params["region"],
        )
        return Response(represented(serializers.ReservationSerializer, hold), status=status.HTTP_201_CREATED)


class ReservationDetailView(OrdersApiView):
    staff_permissions = {"GET": ("orders.view_allocation",)}

    @extend_schema(summary="Read a hold", responses={200: serializers.ReservationSerializer})
    def get(self, request, reservation_id: int):
        return Response(serializers.ReservationSerializer(self.visible_reservation(reservation_id)).data)


class ReservationReleaseView(OrdersApiView):
    staff_permissions = {"POST": ("orders.change_allocation",)}

    @extend_schema(summary="Give a hold's units back (releasing twice answers the same)",
                   request=serializers.NoteInSerializer, responses={200: serializers.ReservationSerializer})
    @idempotent
    def post(self, request, reservation_id: int):
        data = serializers.NoteInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        hold = self.visible_reservation(reservation_id)
        services.reservation_release(reservation=hold, caller=self.caller(),
                                     reason=data.validated_data["note"] or "released by client")
        return Response(serializers.ReservationSerializer(self.visible_reservation(reservation_id)).data)


@extend_schema_view(
    get=extend_schema(summary="List orders", responses={200: serializers.OrderSerializer(many=True)}),
)
class OrderListCreateView(generics.ListAPIView, OrdersApiView):
    staff_permissions = {"GET": _VIEW_ORDER, "POST": ("orders.add_order",)}
    serializer_class = serializers.OrderSerializer
    filterset_class = filters.OrderFilter

    def get_queryset(self):
        return selectors.orders_with_lines(selectors.orders_for(caller=self.caller()))

    @extend_schema(
        summary="Place an order and allocate every line (all or nothing)",
        request=serializers.OrderInSerializer,
        responses={201: serializers.OrderDetailSerializer, 200: serializers.OrderDetailSerializer},
    )
    @idempotent
    def post(self, request):
        data = serializers.OrderInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        caller = self.caller()
        order, created = services.order_create(
            caller=caller, external_id=params["external_id"], channel_code=params["channel"],
            fulfillment=params["fulfillment"], pickup_location_code=params["pickup_location"],
            region=params["region"], lines=[services.LineInput(**line) for line in params["lines"]],
        )
        return _order_response(caller, order.pk, http_status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class OrderDetailView(OrdersApiView):
    staff_permissions = {"GET": _VIEW_ORDER}

    @extend_schema(summary="Read an order, with where each line was sourced from and why",
                   responses={200: serializers.OrderDetailSerializer})
    def get(self, request, order_id: int):
        caller = self.caller()
        self.visible_order(order_id)
        return _order_response(caller, order_id)


class OrderCancelView(OrdersApiView):
    staff_permissions = {"POST": _CHANGE_ORDER}

    @extend_schema(summary="Cancel an order; its allocations are released (cancelling twice answers the same)",
                   request=serializers.CancelInSerializer, responses={200: serializers.OrderDetailSerializer})
    @idempotent
    def post(self, request, order_id: int):
        data = serializers.CancelInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = self.visible_order(order_id)
        services.order_cancel(order=order, caller=self.caller(), reason=data.validated_data["reason"])
        return _order_response(self.caller(), order_id)


class OrderShipView(OrdersApiView):
    staff_permissions = {"POST": _CHANGE_ORDER}

    @extend_schema(summary="Ship what is allocated (optionally only from one location)",
                   request=serializers.ShipInSerializer, responses={200: serializers.OrderDetailSerializer})
    @idempotent
    def post(self, request, order_id: int):
        data = serializers.ShipInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = self.visible_order(order_id)
        services.order_ship(order=order, caller=self.caller(), location_code=data.validated_data.get("location"))
        return _order_response(self.caller(), order_id)


class OrderPickupView(OrdersApiView):
    staff_permissions = {"POST": _CHANGE_ORDER}

    @extend_schema(summary="Record that the customer collected a pickup order",
                   request=serializers.NoteInSerializer, responses={200: serializers.OrderDetailSerializer})
    @idempotent
    def post(self, request, order_id: int):
        data = serializers.NoteInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = self.visible_order(order_id)
        services.order_pickup(order=order, caller=self.caller(), note=data.validated_data["note"])
        return _order_response(self.caller(), order_id)


class OrderAcknowledgeView(OrdersApiView):
    staff_permissions = {"POST": _CHANGE_ORDER}

    @extend_schema(summary="Addition: the pickup store acknowledges a pickup order (stops the overdue clock)",
                   request=serializers.NoteInSerializer, responses={200: serializers.OrderDetailSerializer})
    @idempotent
    def post(self, request, order_id: int):
        data = serializers.NoteInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = self.visible_order(order_id)
        services.order_acknowledge_pickup(order=order, caller=self.caller(), note=data.validated_data["note"])
        return _order_response(self.caller(), order_id)
