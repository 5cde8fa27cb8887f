import django_filters

from exceptions.models import Case
from exceptions.states import CaseKind, CaseStatus, Queue
from retailops.filters import FilterSet


class CaseFilter(FilterSet):
    kind = django_filters.ChoiceFilter(choices=CaseKind.choices)
    status = django_filters.ChoiceFilter(choices=CaseStatus.choices)
    queue = django_filters.ChoiceFilter(choices=Queue.choices)
    location = django_filters.CharFilter(field_name="location__code", help_text="Location code.")

    class Meta:
        model = Case
        fields = ["kind", "status", "queue", "location"]
