"""Returns' API shapes (API.md "Returns"): inputs checked here, rules in the services."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from returns.services import MAX_LINES, MAX_QUANTITY
from returns.states import Disposition, RefundStatus, ReturnStatus

_CODE = {"max_length": 64}
_QUANTITY = {"min_value": 1, "max_value": MAX_QUANTITY}


class ReturnAuthorizedLineInSerializer(serializers.Serializer):
    sku = serializers.CharField(**_CODE)
    quantity = serializers.IntegerField(**_QUANTITY)
    reason = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class ReturnInSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=255, help_text="The partner's return number (RA); unique per "
                                                                  "partner system.")
    order = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1,
                                     max_value=2**53, help_text="Id of the order the units were sold on.")
    location = serializers.CharField(**_CODE)
    lines = ReturnAuthorizedLineInSerializer(many=True, min_length=1, max_length=MAX_LINES)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="",
                                 help_text="Addition: a note kept with the return.")


class ReturnReceivedLineInSerializer(serializers.Serializer):
    sku = serializers.CharField(**_CODE)
    quantity = serializers.IntegerField(**_QUANTITY, help_text="Units that arrived now.")


class ReturnReceiveInSerializer(serializers.Serializer):
    lines = ReturnReceivedLineInSerializer(many=True, min_length=1, max_length=MAX_LINES)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ReturnInspectedLineInSerializer(serializers.Serializer):
    sku = serializers.CharField(**_CODE)
    quantity = serializers.IntegerField(**_QUANTITY)
    disposition = serializers.ChoiceField(choices=Disposition.choices)


class ReturnInspectInSerializer(serializers.Serializer):
    lines = ReturnInspectedLineInSerializer(many=True, min_length=1, max_length=MAX_LINES,
                                      help_text="Groups of units and what becomes of them; a SKU may appear once "
                                                "per disposition.")
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ReturnRefundInSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ReturnNoteInSerializer(serializers.Serializer):
    """The body may be empty or `{}`; a note, when given, is recorded with the change."""

    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="",
                                 help_text="Why; required to reject a refund.")


class ReturnLineSerializer(serializers.Serializer):
    sku = serializers.CharField(source="sku.code")
    authorized = serializers.IntegerField()
    received = serializers.IntegerField()
    restocked = serializers.IntegerField()
    damaged = serializers.IntegerField()
    written_off = serializers.IntegerField()
    returned_to_vendor = serializers.IntegerField()
    reason = serializers.CharField(help_text="Addition: why the customer returns it.")


class ReturnRefundSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    status = serializers.ChoiceField(choices=RefundStatus.choices)
    held_for = serializers.CharField(help_text="Addition: why it waits for finance (value, before_receipt), or ''.")
    requested_by = serializers.CharField(source="requested_by.username", allow_null=True, default=None)
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)
    approvals_required = serializers.IntegerField(
        help_text="Addition: finance approvals it needs (2 at the approval policy's second threshold), 0 when "
                  "paid at once.")
    approved_by = serializers.SerializerMethodField(help_text="Addition: who approved it so far, in order.")

    def get_approved_by(self, refund) -> list[str]:
        return [user.username for user in refund.approvers]


class ReturnErpPostingSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["pending", "delivered", "dead", "not_sent"],
                                     help_text="The credit note's delivery through the outbox: dead is a dead "
                                               "letter; not_sent, no ERP system was enabled.")


class ReturnSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    external_id = serializers.CharField()
    status = serializers.ChoiceField(choices=ReturnStatus.choices)
    location = serializers.CharField(source="location.code")
    order = serializers.IntegerField(source="order_id", allow_null=True, help_text="Addition.")
    authorized = serializers.BooleanField(help_text="Addition: false for units that arrived with no "
                                                    "authorisation.")
    created_at = serializers.DateTimeField(help_text="Addition.")
    lines = ReturnLineSerializer(many=True)
    refund = serializers.SerializerMethodField()
    erp_posting = serializers.SerializerMethodField()

    @extend_schema_field(ReturnRefundSerializer(allow_null=True))
    def get_refund(self, authorization):
        refund = authorization.current_refund
        return ReturnRefundSerializer(refund).data if refund is not None else None

    @extend_schema_field(ReturnErpPostingSerializer(allow_null=True))
    def get_erp_posting(self, authorization):
        status = authorization.erp_posting_status
        return {"status": status} if status is not None else None
