"""Request and response shapes of the supplier receipts endpoints (API.md "Supplier receipts")."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from receiving import selectors
from receiving.services import MAX_LINES
from receiving.states import AsnStatus

_CODE = {"max_length": 64}


class AsnLineInSerializer(serializers.Serializer):
    sku = serializers.CharField(**_CODE)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)


class AsnInSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=255)
    supplier = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    purchase_order = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    location = serializers.CharField(**_CODE)
    expected_at = serializers.DateTimeField()
    lines = AsnLineInSerializer(many=True, min_length=1, max_length=MAX_LINES)


class AsnReceiptLineInSerializer(serializers.Serializer):
    sku = serializers.CharField(**_CODE)
    quantity = serializers.IntegerField(min_value=0, max_value=1_000_000, help_text="Units that arrived.")
    damaged = serializers.IntegerField(min_value=0, max_value=1_000_000, required=False, default=0,
                                       help_text="Of those, units that arrived damaged.")


class AsnReceiveInSerializer(serializers.Serializer):
    lines = AsnReceiptLineInSerializer(many=True, min_length=1, max_length=MAX_LINES,
                                    help_text="Units received per SKU; a SKU of the notice not listed received 0.")
    complete = serializers.BooleanField(required=False, default=True,
                                        help_text="Addition: false for a partial delivery (more will follow); "
                                                  "short lines are reported once the delivery is complete.")
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class AsnNoteInSerializer(serializers.Serializer):
    """The body may be empty or `{}`; a note, when given, is recorded with the change."""

    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class AsnLineSerializer(serializers.Serializer):
    sku = serializers.CharField(source="sku.code")
    expected = serializers.IntegerField()
    received = serializers.IntegerField()
    damaged = serializers.IntegerField()


class ErpPostingSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["pending", "delivered", "dead"])
    documents = serializers.IntegerField(help_text="Goods-receipt documents sent for this notice.")


class AsnSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    external_id = serializers.CharField()
    status = serializers.ChoiceField(choices=AsnStatus.choices)
    supplier = serializers.CharField()
    purchase_order = serializers.CharField()
    location = serializers.CharField(source="location.code")
    expected_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    lines = AsnLineSerializer(many=True)
    erp_posting = serializers.SerializerMethodField(
        help_text="Delivery of the goods receipts to the ERP; null before any receipt (or with no ERP connected).")

    @extend_schema_field(ErpPostingSerializer(allow_null=True))
    def get_erp_posting(self, asn) -> dict | None:
        return selectors.erp_posting(asn)
