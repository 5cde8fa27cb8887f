"""Forms of the inventory staff screens: they parse and label input; the services decide."""

import re

from django import forms
from django.conf import settings

from exceptions.states import PERSON_ROOT_CAUSES
from inventory import selectors
from inventory.counts import MAX_LINES
from inventory.documents import DOCUMENT_LABELS, document_label
from inventory.models import Bucket, CycleCount
from inventory.selectors import MovementFilters
from inventory.states import TransferStatus

_QUANTITY = {"min_value": -1_000_000_000, "max_value": 1_000_000_000}


def _locations(scope):
    return selectors.locations_for(scope=scope).filter(active=True).order_by("code")


class NoteForm(forms.Form):
    note = forms.CharField(max_length=2000, required=False, strip=True)


class AdjustmentRequestForm(forms.Form):
    sku = forms.CharField(label="SKU code", max_length=64)
    location = forms.ModelChoiceField(queryset=None, to_field_name="code", empty_label="Choose a location…")
    delta = forms.IntegerField(label="Change in units", help_text="Positive adds units, negative removes them.",
                               **_QUANTITY)
    expected_on_hand = forms.IntegerField(
        label="Expected on hand", required=False, **_QUANTITY,
        help_text="Optional: refused if on-hand is no longer this number (someone else changed it).")
    reason = forms.ChoiceField(choices=())
    root_cause = forms.ChoiceField(label="Root cause", required=False, choices=())
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))

    # Service error fields that name a form field.
    FIELDS = {"sku", "location", "delta", "expected_on_hand", "reason", "root_cause", "note"}

    def __init__(self, *args, scope, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["location"].queryset = _locations(scope)
        self.fields["reason"].choices = [("", "Choose a reason…"),
                                         *[(reason, reason.replace("_", " ").capitalize())
                                           for reason in settings.ADJUSTMENT_REASONS]]
        self.fields["root_cause"].choices = [("", "Not known yet"), *PERSON_ROOT_CAUSES]

    def clean_delta(self) -> int:
        delta = self.cleaned_data["delta"]
        if delta == 0:
            raise forms.ValidationError("The change must not be 0.")
        return delta


def _codes(text: str) -> list[str]:
    return [code for code in re.split(r"[\s,;]+", text) if code]


class CountScheduleForm(forms.Form):
    location = forms.ModelChoiceField(queryset=None, to_field_name="code", empty_label="Choose a location…")
    selection = forms.ChoiceField(label="What to count", choices=CycleCount.Selection.choices,
                                  initial=CycleCount.Selection.EXPLICIT, widget=forms.RadioSelect)
    skus = forms.CharField(label="SKU codes", required=False, widget=forms.Textarea(attrs={"rows": 3}),
                           help_text="For chosen SKUs: codes separated by spaces, commas or new lines.")
    sample_size = forms.IntegerField(label="Sample size", required=False, min_value=1, max_value=MAX_LINES,
                                     help_text="For a random sample: how many carried SKUs.")
    reason = forms.CharField(max_length=255, required=False)

    FIELDS = {"location", "selection", "skus", "sample_size", "reason"}

    def __init__(self, *args, scope, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["location"].queryset = _locations(scope)

    def clean_skus(self) -> list[str]:
        return _codes(self.cleaned_data.get("skus", ""))


class CountEntryForm(forms.Form):
    """One counted-quantity input per line, labelled with the SKU: nothing else (blind)."""

    def __init__(self, *args, lines, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lines = lines
        for line in lines:
            self.fields[f"line_{line.pk}"] = forms.IntegerField(
                label=f"{line.sku.code} {line.sku.name}", min_value=0, max_value=1_000_000,
                error_messages={"required": "Enter the units you counted (0 if none)."},
                widget=forms.NumberInput(attrs={"inputmode": "numeric", "autocomplete": "off"}))

    def rows(self):
        return [(line, self[f"line_{line.pk}"]) for line in self.lines]

    def counted(self) -> list[tuple[str, int]]:
        return [(line.sku.code, self.cleaned_data[f"line_{line.pk}"]) for line in self.lines]


class RequiredNoteForm(forms.Form):
    note = forms.CharField(max_length=2000, strip=True, error_messages={"required": "A note saying why is required."})


class TransferFilterForm(forms.Form):
    """The transfer list's filters; they live in the query string."""

    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *TransferStatus.choices])
    location = forms.ModelChoiceField(queryset=None, to_field_name="code", required=False,
                                      empty_label="Any location", label="From or to")
    reference = forms.CharField(required=False, max_length=255)

    def __init__(self, data, *, scope) -> None:
        super().__init__(data)
        self.fields["location"].queryset = _locations(scope)

    def filters(self) -> dict:
        self.is_valid()
        return {name: value for name, value in self.cleaned_data.items() if value}


class TransferReceiveForm(forms.Form):
    """Units received per line, prefilled with what was shipped."""

    note = forms.CharField(max_length=2000, required=False, strip=True)

    def __init__(self, *args, lines, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lines = lines
        for line in lines:
            self.fields[f"line_{line.pk}"] = forms.IntegerField(
                label=f"{line.sku.code} received", min_value=0, max_value=1_000_000, initial=line.shipped)

    def rows(self):
        return [(line, self[f"line_{line.pk}"]) for line in self.lines]

    def received(self) -> list[tuple[str, int]]:
        return [(line.sku.code, self.cleaned_data[f"line_{line.pk}"]) for line in self.lines]


def bucket_label(bucket: str) -> str:
    """A bucket as screens name it: "quality_control" is "Quality control"."""
    return bucket.replace("_", " ").capitalize()


class StockSearchForm(forms.Form):
    """The stock inquiry's one search box."""

    q = forms.CharField(label="SKU or location", max_length=200, required=False, strip=True,
                        help_text="A SKU code or name, or a location code or name.",
                        widget=forms.TextInput(attrs={"type": "search", "autofocus": True, "autocomplete": "off"}))

    def query(self) -> str:
        return self.cleaned_data.get("q", "") if self.is_valid() else ""


class MovementFilterForm(forms.Form):
    """A level's ledger filters; they live in the query string, so a filtered page and
    its export share one link."""

    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    bucket = forms.ChoiceField(required=False, choices=[("", "Any bucket"),
                                                        *((bucket, bucket_label(bucket)) for bucket in Bucket.values)])
    reason = forms.ChoiceField(required=False, choices=())
    document_type = forms.ChoiceField(label="Document type", required=False, choices=())
    document_id = forms.CharField(label="Document id", required=False, max_length=64)

    def __init__(self, data, *, reasons: list[str]) -> None:
        super().__init__(data)
        self.fields["reason"].choices = [("", "Any reason"), *((reason, reason) for reason in reasons)]
        self.fields["document_type"].choices = [("", "Any document"),
                                                *((kind, document_label(kind)) for kind in DOCUMENT_LABELS)]

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", "The end date is before the start date.")
        return data

    def filters(self) -> MovementFilters:
        """The valid filters (an invalid field is ignored, and shown with its error)."""
        self.is_valid()
        return MovementFilters(**{name: value for name, value in self.cleaned_data.items() if value})
