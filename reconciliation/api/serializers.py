"""Request and response shapes of the snapshot and reconciliation endpoints (API.md)."""

from rest_framework import serializers

from reconciliation.states import Classification, Decision, RunStatus

_CODE = {"max_length": 64}


class SnapshotLineInSerializer(serializers.Serializer):
    sku = serializers.CharField(**_CODE)
    location = serializers.CharField(**_CODE)
    on_hand = serializers.IntegerField(min_value=0, max_value=2**31 - 1)


class SnapshotInSerializer(serializers.Serializer):
    """Documents the JSON body; the body itself is read as a stream, never whole."""

    as_of = serializers.DateTimeField(help_text="When the quantities were true, with an offset.")
    lines = SnapshotLineInSerializer(many=True, max_length=1_000_000)


class SnapshotAcceptedSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The snapshot.")
    status = serializers.ChoiceField(choices=RunStatus.choices, help_text="Its reconciliation's status.")
    reconciliation = serializers.IntegerField(help_text="The reconciliation run of this snapshot.")
    lines = serializers.IntegerField(help_text="Addition: how many lines were stored.")


class SummarySerializer(serializers.Serializer):
    lines = serializers.IntegerField()
    matched = serializers.IntegerField()
    timing = serializers.IntegerField()
    variance = serializers.IntegerField()
    missing_in_ledger = serializers.IntegerField()
    variance_value = serializers.DecimalField(max_digits=14, decimal_places=2)


class RunSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    snapshot = serializers.IntegerField(source="snapshot_id")
    system = serializers.CharField(source="system.code")
    status = serializers.ChoiceField(choices=RunStatus.choices)
    as_of = serializers.DateTimeField()
    summary = SummarySerializer(source="*")
    # Additions.
    tolerance_units = serializers.IntegerField()
    tolerance_percent = serializers.DecimalField(max_digits=5, decimal_places=2)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(help_text="Why a failed run failed; empty otherwise.")


class LineSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk", help_text="Addition.")
    sku = serializers.CharField(source="sku_code")
    location = serializers.CharField(source="location_code")
    snapshot_on_hand = serializers.IntegerField()
    ledger_on_hand_at_as_of = serializers.IntegerField(allow_null=True)
    ledger_on_hand_now = serializers.IntegerField(allow_null=True)
    difference = serializers.IntegerField(allow_null=True)
    classification = serializers.ChoiceField(choices=Classification.choices)
    value = serializers.DecimalField(max_digits=14, decimal_places=2)
    decision = serializers.ChoiceField(choices=Decision.choices, allow_blank=True, help_text="Empty: undecided.")
    unit_cost = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True, help_text="Addition.")
