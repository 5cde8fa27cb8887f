"""What `verify_ledger --incremental` keeps of the months it has already proved.

A month of the ledger is *closed* once it is fully past (by `recorded_at`, the time that
chooses a movement's partition, plus a settling margin for transactions still in flight
at midnight): no movement can enter it any more, and none can change or leave it (the
append-only trigger). Its movements are summed once:

- `LedgerMonthChecksum`: one row per closed month, its movements' count and sum of
  deltas, so the month can be re-read later and compared cheaply (one partition scan,
  no join);
- `LedgerClosingBalance`: one row per (SKU, location) ever moved, its buckets summed over
  every closed month — the ledger's balance at the end of the last closed month.

The balances stay as small as the stock levels, whatever the number of months (they are
advanced month by month, never kept per month), and a later run proves
`level == closing balance + Σ movements recorded since` reading only the open months.
"""

from django.db import models

from inventory.models.master_data import Location, Sku


class LedgerMonthChecksum(models.Model):
    month = models.DateField(unique=True, help_text="First day of the month (UTC) of the movements' recorded_at.")
    movements = models.BigIntegerField()
    delta_total = models.BigIntegerField()
    summed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}: {self.movements} movements, Σ {self.delta_total}"


class LedgerClosingBalance(models.Model):
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="+", db_index=False)
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+", db_index=False)
    on_hand = models.BigIntegerField(default=0)
    committed = models.BigIntegerField(default=0)
    damaged = models.BigIntegerField(default=0)
    quality_control = models.BigIntegerField(default=0)
    safety_stock = models.BigIntegerField(default=0)
    incoming = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sku", "location"], name="ledger_closing_balance_per_level"),
        ]

    def __str__(self) -> str:
        return f"{self.sku_id}@{self.location_id}"
