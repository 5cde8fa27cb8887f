from django.core.management.base import BaseCommand

from inventory.ledger import ledger_drifts, report_drifts
from inventory.selectors import location_codes, sku_codes


class Command(BaseCommand):
    help = "Exit 0 when every stock level equals the sum of its movements; else list the drifts and exit 1."

    def add_arguments(self, parser):
        parser.add_argument("--no-cases", action="store_true", help="Report only; open no ledger_drift cases.")

    def handle(self, *args, no_cases, **options):
        drifts = ledger_drifts()
        if not drifts:
            self.stdout.write("Ledger verified: every level equals the sum of its movements.")
            return
        skus = sku_codes(drift.sku_id for drift in drifts)
        locations = location_codes(drift.location_id for drift in drifts)
        for drift in drifts:
            self.stdout.write(
                f"DRIFT {skus.get(drift.sku_id, drift.sku_id)} @ {locations.get(drift.location_id, drift.location_id)} "
                f"{drift.bucket}: level {drift.level}, movements {drift.movements}"
            )
        if not no_cases:
            report_drifts(drifts)
        self.stderr.write(f"{len(drifts)} drift(s) found.")
        raise SystemExit(1)
