import django_filters

from orders.models import Order
from orders.states import OrderStatus
from retailops.filters import FilterSet


class OrderFilter(FilterSet):
    channel = django_filters.CharFilter(field_name="channel__code", help_text="Channel code.")
    status = django_filters.ChoiceFilter(choices=OrderStatus.choices)

    class Meta:
        model = Order
        fields = ["channel", "status"]
