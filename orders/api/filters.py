import django_filters

from orders.models import Order
from orders.states import OrderStatus


class OrderFilter(django_filters.FilterSet):
    channel = django_filters.CharFilter(field_name="channel__code", help_text="Channel code.")
    status = django_filters.ChoiceFilter(choices=OrderStatus.choices)

    class Meta:
        model = Order
        fields = ["channel", "status"]
