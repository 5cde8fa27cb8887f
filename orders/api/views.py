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
        data = serializers.ReservationInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        hold = services.reservation_create(
            caller=self.caller(), sku_code=params["sku"], quantity=params["quantity"], channel_code=params["channel"],
            location_code=params.get("location"), ttl_seconds=params["ttl_seconds"], reference=params["reference"],
            fulfillment=params["fulfillment"], region=params["region"],
        )
        return Response(serializers.ReservationSerializer(hold).data, status=status.HTTP_201_CREATED)


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


class OrderCommandView(OrdersApiView):
    """One verb on an order: parse the body, find the order in the caller's scope, call the
    service, answer with the order as it is now."""

    staff_permissions = {"POST": _CHANGE_ORDER}
    input_serializer: type = serializers.NoteInSerializer

    def act(self, order, caller: Caller, params: dict) -> None:
        raise NotImplementedError

    @idempotent
    def post(self, request, order_id: int):
        data = self.input_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        caller = self.caller()
        self.act(self.visible_order(order_id), caller, data.validated_data)
        return _order_response(caller, order_id)


@extend_schema_view(post=extend_schema(
    summary="Cancel an order; its allocations are released (cancelling twice answers the same)",
    request=serializers.CancelInSerializer, responses={200: serializers.OrderDetailSerializer}))
class OrderCancelView(OrderCommandView):
    input_serializer = serializers.CancelInSerializer

    def act(self, order, caller, params):
        services.order_cancel(order=order, caller=caller, reason=params["reason"])


@extend_schema_view(post=extend_schema(
    summary="Ship what is allocated (optionally only from one location)",
    request=serializers.ShipInSerializer, responses={200: serializers.OrderDetailSerializer}))
class OrderShipView(OrderCommandView):
    input_serializer = serializers.ShipInSerializer

    def act(self, order, caller, params):
        services.order_ship(order=order, caller=caller, location_code=params.get("location"))


@extend_schema_view(post=extend_schema(
    summary="Record that the customer collected a pickup order",
    request=serializers.NoteInSerializer, responses={200: serializers.OrderDetailSerializer}))
class OrderPickupView(OrderCommandView):
    def act(self, order, caller, params):
        services.order_pickup(order=order, caller=caller, note=params["note"])


@extend_schema_view(post=extend_schema(
    summary="Addition: the pickup store acknowledges a pickup order (stops the overdue clock)",
    request=serializers.NoteInSerializer, responses={200: serializers.OrderDetailSerializer}))
class OrderAcknowledgeView(OrderCommandView):
    def act(self, order, caller, params):
        services.order_acknowledge_pickup(order=order, caller=caller, note=params["note"])


@extend_schema_view(post=extend_schema(
    summary="Addition: source again, from the other eligible locations, what is allocated at one location "
            "(all or nothing)",
    request=serializers.ReallocateInSerializer, responses={200: serializers.OrderDetailSerializer}))
class OrderReallocateView(OrderCommandView):
    input_serializer = serializers.ReallocateInSerializer

    def act(self, order, caller, params):
        services.order_reallocate(order=order, caller=caller, from_location_code=params["from_location"],
                                  reason=params["reason"])
