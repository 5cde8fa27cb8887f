"""Forms of the returns screens: what arrived per line, and the disposition grid."""

from django import forms

from returns.models import DISPOSITION_FIELD
from returns.states import Disposition, ReturnStatus

MAX_UNITS = 1_000_000


class FindReturnForm(forms.Form):
    reference = forms.CharField(label="Return number", max_length=255, strip=True,
                                help_text="Type or scan the RA number (external id) or the return's id.")


class ReturnReceiveForm(forms.Form):
    """Units that arrived now, per line, prefilled with what is still expected."""

    note = forms.CharField(max_length=2000, required=False, strip=True)

    def __init__(self, *args, lines, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lines = lines
        for line in lines:
            self.fields[f"line_{line.pk}"] = forms.IntegerField(
                label=f"{line.sku.code} arrived now", min_value=0, max_value=MAX_UNITS, required=False,
                initial=max(line.authorized - line.received, 0))

    def rows(self):
        return [(line, self[f"line_{line.pk}"]) for line in self.lines]

    def arrived(self) -> list[tuple[str, int]]:
        return [(line.sku.code, self.cleaned_data[f"line_{line.pk}"]) for line in self.lines
                if self.cleaned_data.get(f"line_{line.pk}")]


class ReturnInspectForm(forms.Form):
    """The disposition grid: per line waiting for inspection, units per disposition."""

    note = forms.CharField(max_length=2000, required=False, strip=True)

    def __init__(self, *args, lines, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lines = [line for line in lines if line.awaiting_inspection]
        for line in self.lines:
            for disposition in Disposition:
                self.fields[f"{disposition.value}_{line.pk}"] = forms.IntegerField(
                    label=f"{line.sku.code}: {disposition.label}", min_value=0, max_value=MAX_UNITS, required=False,
                    initial=line.awaiting_inspection if disposition == Disposition.RESTOCK else None)

    def rows(self):
        return [(line, [self[f"{disposition.value}_{line.pk}"] for disposition in Disposition])
                for line in self.lines]

    def groups(self) -> list[tuple[str, int, str]]:
        """(SKU code, units, disposition) of every non-empty cell."""
        return [(line.sku.code, self.cleaned_data[f"{disposition.value}_{line.pk}"], disposition.value)
                for line in self.lines for disposition in Disposition
                if self.cleaned_data.get(f"{disposition.value}_{line.pk}")]


class ReturnFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *ReturnStatus.choices], required=False)
    location = forms.CharField(max_length=64, required=False, strip=True)
    older_than_days = forms.IntegerField(label="Open for at least (days)", min_value=0, max_value=3650,
                                         required=False)


DISPOSITION_COLUMNS = [(disposition, DISPOSITION_FIELD[disposition]) for disposition in Disposition]
