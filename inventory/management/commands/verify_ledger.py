from django.core.management.base import BaseCommand

from inventory.ledger import ledger_drifts, ledger_months_recheck, report_drifts
from inventory.selectors import location_codes, sku_codes


class Command(BaseCommand):
    help = "Exit 0 when every stock level equals the sum of its movements; else list the drifts and exit 1."

    def add_arguments(self, parser):
        parser.add_argument("--no-cases", action="store_true", help="Report only; open no ledger_drift cases.")
        parser.add_argument(
            "--incremental", action="store_true",
            help="Close the months that are over into the checkpoint (once each), then read only the movements "
                 "recorded since: level = closing balance + open months.")
        parser.add_argument(
            "--recheck-months", action="store_true",
            help="Also re-read every closed month still attached and compare it with its checksum.")

    def handle(self, *args, no_cases, incremental, recheck_months, **options):
        failed = False
        if recheck_months:
            mismatches = ledger_months_recheck()
            for mismatch in mismatches:
                self.stdout.write(
                    f"MONTH {mismatch.month:%Y-%m}: {mismatch.movements} movements, sum {mismatch.delta_total}; "
                    f"closed with {mismatch.summed_movements}, sum {mismatch.summed_delta_total}")
            failed = bool(mismatches)
            if not mismatches:
                self.stdout.write("Closed months verified: each still holds what was summed when it closed.")
        drifts = ledger_drifts(incremental=incremental)
        if not drifts and not failed:
            self.stdout.write("Ledger verified: every level equals the sum of its movements.")
            return
        skus = sku_codes(drift.sku_id for drift in drifts)
        locations = location_codes(drift.location_id for drift in drifts)
        for drift in drifts:
            self.stdout.write(
                f"DRIFT {skus.get(drift.sku_id, drift.sku_id)} @ {locations.get(drift.location_id, drift.location_id)} "
                f"{drift.bucket}: level {drift.level}, movements {drift.movements}"
            )
        if drifts and not no_cases:
            report_drifts(drifts)
        self.stderr.write(f"{len(drifts)} drift(s) found.")
        raise SystemExit(1)
