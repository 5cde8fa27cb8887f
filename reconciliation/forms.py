"""Forms of the reconciliation review screens: they parse and label input; the services decide."""

from decimal import Decimal

from django import forms
from django.conf import settings

from reconciliation.review import MAX_LINES_PER_ACTION
from reconciliation.selectors import LineFilter
from reconciliation.states import Classification, Decision, RunStatus

# How a run's status reads on the screens.
RUN_STATUS_WORDS = {
    RunStatus.QUEUED: "Queued",
    RunStatus.RUNNING: "Running",
    RunStatus.REVIEW: "In review",
    RunStatus.CLOSED: "Closed",
    RunStatus.FAILED: "Failed",
}
UNDECIDED = "undecided"
MAX_ID = 2**63 - 1  # the filter's word for the blank decision


class RunFilterForm(forms.Form):
    """The runs list's filters; they live in the query string."""

    system = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, choices=())
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *RUN_STATUS_WORDS.items()])

    def __init__(self, data, *, systems) -> None:
        super().__init__(data)
        self.fields["system"].choices = [("", "Any system"),
                                         *[(pk, f"{code} · {name}") for pk, code, name in systems]]

    def filters(self) -> dict:
        if not self.is_valid():
            return {"system_id": None, "status": None}
        return {"system_id": self.cleaned_data["system"], "status": self.cleaned_data["status"] or None}


class LineFilterForm(forms.Form):
    """The run detail's (and its CSV export's) line filters, in the query string."""

    classification = forms.ChoiceField(required=False, choices=[("", "Any classification"),
                                                                *Classification.choices])
    decision = forms.ChoiceField(required=False, choices=[
        ("", "Any decision"), (UNDECIDED, "Undecided"),
        *[(value, label) for value, label in Decision.choices if value]])
    location = forms.CharField(required=False, max_length=64, label="Location code")
    sku = forms.CharField(required=False, max_length=64, label="SKU code")
    min_value = forms.DecimalField(required=False, min_value=Decimal("0"), max_digits=14, decimal_places=2,
                                   label="Value at least")

    def line_filter(self) -> LineFilter:
        """The valid filters (an invalid one is left out and shown as an error)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        decision = data.get("decision") or None
        return LineFilter(
            classification=data.get("classification", ""),
            decision=Decision.UNDECIDED if decision == UNDECIDED else decision,
            location_code=(data.get("location") or "").strip(),
            sku_code=(data.get("sku") or "").strip(),
            min_value=data.get("min_value"),
        )


class DecideForm(forms.Form):
    """One action on one or more lines (the bulk bar, or a line's own forms). The lines
    are the `line` values of the request, whole numbers; the service checks each belongs
    to the run and may take the action."""

    ACTIONS = {"accept": "accepted", "keep": "kept", "dismiss": "dismissed", "escalate": "escalated"}

    action = forms.ChoiceField(choices=[(action, action) for action in ACTIONS],
                               error_messages={"required": "Choose an action."})
    reason = forms.CharField(required=False, max_length=2000, strip=True)

    def clean(self):
        cleaned = super().clean()
        values = self.data.getlist("line") if hasattr(self.data, "getlist") else []
        if not values:
            raise forms.ValidationError("Choose at least one line.")
        if len(values) > MAX_LINES_PER_ACTION:
            raise forms.ValidationError(f"One action takes at most {MAX_LINES_PER_ACTION} lines.")
        try:
            lines = sorted({int(value) for value in values})
        except ValueError:
            raise forms.ValidationError("A line must be named by its number.") from None
        if lines[0] < 1 or lines[-1] > MAX_ID:
            raise forms.ValidationError("A line must be named by its number.")
        cleaned["lines"] = lines
        return cleaned


class SnapshotUploadForm(forms.Form):
    """A staff upload: whose snapshot, as of when (in the app's time zone), and the CSV."""

    system = forms.ModelChoiceField(queryset=None, empty_label="Choose a system",
                                    error_messages={"required": "Choose the system the snapshot comes from."})
    as_of = forms.DateTimeField(
        label="As of", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=f"When the quantities were true, in {settings.TIME_ZONE} time.",
        error_messages={"required": "Say when the quantities were true.",
                        "invalid": "Enter the date and time the quantities were true."})
    file = forms.FileField(
        label="Snapshot (CSV)", widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
        help_text="A header row sku,location,on_hand (in any order; other columns are ignored), then one row "
                  "per SKU and location.",
        error_messages={"required": "Choose the CSV file to upload.", "empty": "The file is empty."})

    def __init__(self, *args, systems, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["system"].queryset = systems
        self.fields["system"].label_from_instance = lambda system: f"{system.code} · {system.name}"
