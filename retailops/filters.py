"""The FilterSet every API list uses: query parameters are named after fields (API.md
"Lists"), and one of the wrong type is a 400, never silently dropped.

django-filter already refuses an unknown choice or a NUL in text; its boolean filter
instead reads anything it does not recognise as "no filter", so `?active=maybe` listed
everything. Here a boolean is `true`/`false` (or `1`/`0`, any case), or left out.
"""

from django import forms
from django.db import models
from django_filters import rest_framework as filters
from django_filters.widgets import BooleanWidget


class _StrictBooleanWidget(BooleanWidget):
    """Hands an unrecognised value on to the field (the base widget turns it into None)."""

    def value_from_datadict(self, data, files, name):
        parsed = super().value_from_datadict(data, files, name)
        raw = data.get(name)
        return raw if parsed is None and raw not in (None, "") else parsed


class StrictBooleanField(forms.NullBooleanField):
    def to_python(self, value):
        if value is None or isinstance(value, bool):
            return value
        raise forms.ValidationError("Must be true or false.", code="invalid")


class BooleanFilter(filters.BooleanFilter):
    field_class = StrictBooleanField

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("widget", _StrictBooleanWidget)
        super().__init__(*args, **kwargs)


class FilterSet(filters.FilterSet):
    FILTER_DEFAULTS = {**filters.FilterSet.FILTER_DEFAULTS, models.BooleanField: {"filter_class": BooleanFilter}}
