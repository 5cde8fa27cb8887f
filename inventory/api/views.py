"""Master data endpoints: PUT upserts by code (201 created, 200 updated), GET reads."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory import selectors, services
from inventory.api import filters, serializers
from retailops.access import Scope, location_scope


def _staff_permissions(model_name: str) -> dict[str, tuple[str, ...]]:
    return {
        "GET": (f"inventory.view_{model_name}",),
        "PUT": (f"inventory.add_{model_name}", f"inventory.change_{model_name}"),
    }


def _detail_schema(input_serializer, output_serializer, noun: str):
    return extend_schema_view(
        get=extend_schema(summary=f"Read one {noun}", responses={200: output_serializer}),
        put=extend_schema(
            summary=f"Create or update a {noun} by code",
            request=input_serializer,
            responses={200: output_serializer, 201: output_serializer},
        ),
    )


class MasterDataDetailView(APIView):
    required_scope = Scope.MASTER_DATA
    input_serializer_class: type
    output_serializer_class: type

    def get_queryset(self):
        raise NotImplementedError

    def upsert(self, **kwargs):
        raise NotImplementedError

    def check_write_allowed(self, request, code: str) -> None:
        """SKUs and channels hold for the whole chain: a caller limited to some locations
        reads them but does not change them."""
        if not location_scope(request).is_all:
            raise exceptions.PermissionDenied(
                "A caller limited to some locations cannot change master data that holds for every location.")

    def get(self, request, code: str):
        obj = self.get_queryset().filter(code=code).first()
        if obj is None:
            raise exceptions.NotFound(f"No {self.output_serializer_class.Meta.model._meta.verbose_name} '{code}'.")
        return Response(self.output_serializer_class(obj).data)

    def put(self, request, code: str):
        serializer = self.input_serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.check_write_allowed(request, code)
        obj, created = self.upsert(code=code, actor=request.user, **serializer.validated_data)
        return Response(
            self.output_serializer_class(obj).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


@_detail_schema(serializers.SkuInputSerializer, serializers.SkuOutputSerializer, "SKU")
class SkuDetailView(MasterDataDetailView):
    staff_permissions = _staff_permissions("sku")
    input_serializer_class = serializers.SkuInputSerializer
    output_serializer_class = serializers.SkuOutputSerializer

    def get_queryset(self):
        return selectors.skus_list()

    def upsert(self, **kwargs):
        return services.sku_upsert(**kwargs)


@_detail_schema(serializers.LocationInputSerializer, serializers.LocationOutputSerializer, "location")
class LocationDetailView(MasterDataDetailView):
    staff_permissions = _staff_permissions("location")
    input_serializer_class = serializers.LocationInputSerializer
    output_serializer_class = serializers.LocationOutputSerializer

    def get_queryset(self):
        return selectors.locations_for(scope=location_scope(self.request))

    def check_write_allowed(self, request, code: str) -> None:
        scope = location_scope(request)
        if not scope.is_all and not self.get_queryset().filter(code=code).exists():
            raise exceptions.PermissionDenied("This location is outside the caller's location scope.")

    def upsert(self, **kwargs):
        return services.location_upsert(**kwargs)


@_detail_schema(serializers.ChannelInputSerializer, serializers.ChannelOutputSerializer, "channel")
class ChannelDetailView(MasterDataDetailView):
    staff_permissions = _staff_permissions("channel")
    input_serializer_class = serializers.ChannelInputSerializer
    output_serializer_class = serializers.ChannelOutputSerializer

    def get_queryset(self):
        return selectors.channels_list()

    def upsert(self, **kwargs):
        return services.channel_upsert(**kwargs)


class MasterDataListView(generics.ListAPIView):
    required_scope = Scope.MASTER_DATA
    cursor_ordering = "code"


@extend_schema(summary="List SKUs")
class SkuListView(MasterDataListView):
    staff_permissions = {"GET": ("inventory.view_sku",)}
    serializer_class = serializers.SkuOutputSerializer
    filterset_class = filters.SkuFilter

    def get_queryset(self):
        return selectors.skus_list()


@extend_schema(summary="List locations")
class LocationListView(MasterDataListView):
    staff_permissions = {"GET": ("inventory.view_location",)}
    serializer_class = serializers.LocationOutputSerializer
    filterset_class = filters.LocationFilter

    def get_queryset(self):
        return selectors.locations_for(scope=location_scope(self.request))


@extend_schema(summary="List channels")
class ChannelListView(MasterDataListView):
    staff_permissions = {"GET": ("inventory.view_channel",)}
    serializer_class = serializers.ChannelOutputSerializer
    filterset_class = filters.ChannelFilter

    def get_queryset(self):
        return selectors.channels_list()
