"""The receiving screen's forms: find a notice by its external id, and the receipt grid."""

from django import forms

from inventory.models.master_data import CODE_PATTERN

_QUANTITY = {"min_value": 0, "max_value": 1_000_000}


def _units(label: str) -> forms.IntegerField:
    return forms.IntegerField(label=label, required=False, **_QUANTITY,
                              widget=forms.NumberInput(attrs={"inputmode": "numeric", "autocomplete": "off",
                                                              "min": 0}))


class FindAsnForm(forms.Form):
    asn = forms.CharField(label="ASN external id", max_length=255, strip=True,
                          error_messages={"required": "Scan or type the ASN's external id."},
                          widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off",
                                                        "spellcheck": "false"}))


class ReceiptForm(forms.Form):
    """Per line of the notice: units arrived now and, of those, damaged (empty is 0). One
    more row takes a SKU that arrived without being announced."""

    extra_sku = forms.RegexField(label="Unannounced SKU", regex=rf"^{CODE_PATTERN}$", required=False,
                                 max_length=64, error_messages={"invalid": "Enter a SKU code."})
    extra_quantity = _units("Units of the unannounced SKU")
    extra_damaged = _units("Damaged units of the unannounced SKU")
    complete = forms.BooleanField(label="This is the whole delivery (report anything short)", required=False,
                                  initial=True)
    note = forms.CharField(label="Note", max_length=2000, required=False, strip=True)

    def __init__(self, *args, lines, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lines = lines
        for line in lines:
            self.fields[f"received_{line.pk}"] = _units(f"Units of {line.sku.code} received now")
            self.fields[f"damaged_{line.pk}"] = _units(f"Of which damaged, {line.sku.code}")

    def rows(self):
        return [(line, self[f"received_{line.pk}"], self[f"damaged_{line.pk}"]) for line in self.lines]

    def clean(self):
        cleaned = super().clean()
        for line in self.lines:
            received = cleaned.get(f"received_{line.pk}") or 0
            if (cleaned.get(f"damaged_{line.pk}") or 0) > received:
                self.add_error(f"damaged_{line.pk}", "Damaged units are part of those received: at most "
                                                     f"{received}.")
        if cleaned.get("extra_quantity") and not cleaned.get("extra_sku"):
            self.add_error("extra_sku", "Name the SKU that arrived unannounced.")
        if (cleaned.get("extra_damaged") or 0) > (cleaned.get("extra_quantity") or 0):
            self.add_error("extra_damaged", "Damaged units are part of those received.")
        return cleaned

    def receipt(self) -> list[tuple[str, int, int]]:
        """(SKU code, received, damaged) per line, the unannounced SKU last."""
        data = self.cleaned_data
        rows = [(line.sku.code, data.get(f"received_{line.pk}") or 0, data.get(f"damaged_{line.pk}") or 0)
                for line in self.lines]
        if data.get("extra_sku"):
            rows.append((data["extra_sku"], data.get("extra_quantity") or 0, data.get("extra_damaged") or 0))
        return rows
