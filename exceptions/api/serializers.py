from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from exceptions.models import Case
from exceptions.states import CaseKind, CaseStatus, Queue, Severity


class CaseSubjectSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="What the case is about: stocklevel, inventoryevent, order, …")
    id = serializers.CharField()
    sku = serializers.CharField(allow_null=True, help_text="SKU code, when the case is about one.")
    location = serializers.CharField(allow_null=True, help_text="Location code, when the case is about one.")


class CaseSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=CaseKind.choices)
    status = serializers.ChoiceField(choices=CaseStatus.choices)
    queue = serializers.ChoiceField(choices=Queue.choices)
    severity = serializers.ChoiceField(choices=Severity.choices)
    priority = serializers.DecimalField(max_digits=16, decimal_places=2, coerce_to_string=True)
    priority_factors = serializers.DictField(child=serializers.CharField(),
                                             help_text="The factors the priority multiplies.")
    money_at_risk = serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=True)
    subject = serializers.SerializerMethodField()
    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Case
        fields = ["id", "kind", "status", "queue", "priority", "subject", "occurrences", "created_at",
                  "sla_due_at", "title", "severity", "escalated", "priority_factors", "money_at_risk",
                  "last_seen_at", "assignee", "root_cause", "resolved_at"]
        read_only_fields = fields

    @extend_schema_field(CaseSubjectSerializer)
    def get_subject(self, case: Case) -> dict:
        return {
            "type": case.subject_type.model if case.subject_type_id else "",
            "id": case.subject_id,
            "sku": case.sku.code if case.sku_id else None,
            "location": case.location.code if case.location_id else None,
        }
