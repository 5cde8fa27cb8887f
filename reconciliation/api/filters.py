import django_filters

from reconciliation.models import ReconciliationLine, ReconciliationRun
from reconciliation.states import Classification, RunStatus
from retailops.filters import FilterSet


class RunFilter(FilterSet):
    system = django_filters.CharFilter(field_name="system__code", help_text="System code.")
    status = django_filters.ChoiceFilter(choices=RunStatus.choices)

    class Meta:
        model = ReconciliationRun
        fields = ["system", "status"]


class LineFilter(FilterSet):
    classification = django_filters.ChoiceFilter(choices=Classification.choices)

    class Meta:
        model = ReconciliationLine
        fields = ["classification"]
