from django.core.management.base import BaseCommand

from inventory.ledger.partitions import partitions_maintain


class Command(BaseCommand):
    help = ("Keep the ledger's monthly partitions ready on PostgreSQL: create the months ahead, move rows out of "
            "the DEFAULT partition, detach months past the retention as archive tables (never dropped).")

    def add_arguments(self, parser):
        parser.add_argument("--months-ahead", type=int, default=None,
                            help="Months of partitions ahead of this one (default LEDGER_PARTITION_MONTHS_AHEAD).")
        parser.add_argument("--retain-months", type=int, default=None,
                            help="Months kept attached before this one (default LEDGER_PARTITION_RETAIN_MONTHS; "
                                 "unset: all).")

    def handle(self, *args, months_ahead, retain_months, **options):
        upkeep = partitions_maintain(months_ahead=months_ahead, retain_months=retain_months)
        if upkeep is None:
            self.stdout.write("Nothing to do: the ledger is partitioned on PostgreSQL only.")
            return
        for name in upkeep.created:
            self.stdout.write(f"created {name}")
        for table, moved in upkeep.moved_from_default.items():
            self.stdout.write(f"moved {moved} row(s) of {table} out of its DEFAULT partition")
        for name in upkeep.archived:
            self.stdout.write(f"archived {name}")
        for name in upkeep.kept_unverified:
            self.stdout.write(f"kept {name}: past retention, but not yet closed by verify_ledger --incremental")
        if not (upkeep.created or upkeep.moved_from_default or upkeep.archived or upkeep.kept_unverified):
            self.stdout.write("Partitions up to date.")
