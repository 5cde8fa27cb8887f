"""Score every active location's confidence now (the nightly run, on demand)."""

from django.core.management.base import BaseCommand

from inventory.confidence.services import locations_score
from inventory.models import LocationConfidence


class Command(BaseCommand):
    help = "Score every active location's ledger confidence against the estate and keep the scores."

    def add_arguments(self, parser):
        parser.add_argument("--window-days", type=int, default=None,
                            help="Trailing window of the factors (default: CONFIDENCE_WINDOW_DAYS).")

    def handle(self, *args, window_days=None, **options):
        run = locations_score(trigger=LocationConfidence.Trigger.COMMAND, window_days=window_days)
        self.stdout.write(f"scored: {run.scored}\nchanged: {len(run.changed)}\nlevels scored: {run.levels}")
