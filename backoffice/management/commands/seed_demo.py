import random
import time
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand

from backoffice import rollup
from backoffice.demo import seed_demo_users
from backoffice.staff import staff_users_named
from connectors.demo import seed_demo_systems, seed_sync_history
from exceptions.demo import seed_case_history
from inventory.demo import demo_locations, seed_master_data, seed_stock_and_history, store_code
from inventory.demo_history import HISTORY_DAYS, seed_floor_history
from inventory.selectors import locations_by_code
from orders.demo import seed_pickup_history
from receiving.demo import seed_demo_asns
from reconciliation.demo import seed_demo_reconciliation
from returns.demo import seed_demo_returns

# The demo user who reviewed the closed demo reconciliation.
RECONCILIATION_REVIEWER = "control"


class Command(BaseCommand):
    help = "Load deterministic demo data (idempotent: a second run adds nothing twice)."

    def add_arguments(self, parser):
        parser.add_argument("--stores", type=int, default=8)
        parser.add_argument("--skus", type=int, default=200)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--no-users", action="store_true", help="Do not create the demo staff users.")
        parser.add_argument("--demo-users", action="store_true",
                            help="Create the demo staff users, whose passwords are published, even with DEBUG off.")

    def handle(self, *args, stores, skus, seed, no_users, demo_users, **options):
        started = time.monotonic()
        summary = seed_master_data(stores=stores, skus=skus, seed=seed)
        self.stdout.write(
            f"Demo data: {summary.locations} locations, {summary.skus} SKUs, {summary.channels} channels."
        )
        stock = seed_stock_and_history(stores=stores, skus=skus, seed=seed)
        outcomes = ", ".join(f"{count} {status}" for status, count in sorted(stock.outcomes.items())) or "none"
        self.stdout.write(
            f"Demo stock: {stock.levels} levels ({stock.opened} opened now), {stock.on_hand} units on hand "
            f"({stock.damaged} damaged, {stock.quality_control} in quality control); "
            f"{stock.events} history events ({outcomes}) in {time.monotonic() - started:.1f}s."
        )
        # Before the channel systems exist, like the events: history is not pushed to them.
        floor_started = time.monotonic()
        floor = seed_floor_history(
            location_codes=[row["code"] for row in demo_locations(stores, random.Random(seed))], seed=seed)
        pickups = seed_pickup_history(seed=seed)
        self.stdout.write(f"Demo floor history (90 days): {floor.counts} cycle counts, {floor.adjustments} "
                          f"adjustments, {pickups} pickup orders added in {time.monotonic() - floor_started:.1f}s.")
        systems = seed_demo_systems()
        self.stdout.write(f"Demo external systems (played by the sandbox partner): "
                          f"{', '.join(system.code for system in systems)}.")
        asns = seed_demo_asns(skus=skus)
        states = ", ".join(f"{count} {status.replace('_', ' ')}" for status, count in sorted(asns.by_status.items()))
        self.stdout.write(f"Demo supplier notices: {states} ({asns.created} new).")
        history_started = time.monotonic()
        runs = seed_sync_history(systems=systems, seed=seed)
        stores_by_code = locations_by_code(store_code(index) for index in range(1, stores + 1))
        cases = seed_case_history(location_ids=sorted(location.pk for location in stores_by_code.values()), seed=seed)
        # The dashboard's daily rollup of the history's days, built now that they hold it.
        yesterday = rollup.today() - timedelta(days=1)
        rollup.days_build(yesterday - timedelta(days=HISTORY_DAYS), yesterday)
        self.stdout.write(f"Demo history (90 days): {runs} sync runs, {cases} cases added "
                          f"in {time.monotonic() - history_started:.1f}s; all demo data in "
                          f"{time.monotonic() - started:.1f}s.")
        returns = seed_demo_returns(skus=skus)
        states = ", ".join(f"{count} {status}" for status, count in sorted(returns.by_status.items()))
        self.stdout.write(f"Demo returns: {states} ({returns.created} new).")
        if not no_users and not (settings.DEBUG or demo_users):
            self.stdout.write("Demo users not created: their passwords are published. They are created under "
                              "DEBUG (as `make run` does) or with --demo-users.")
        elif not no_users:
            self.stdout.write("Demo users (username / password / role):")
            for user, published in seed_demo_users():
                where = f" at {', '.join(user.locations)}" if user.locations else ""
                password = user.password if published else "(an existing account, left as it was)"
                self.stdout.write(f"  {user.username:<22} {password:<22} {user.role}{where}")
        self._reconciliation({system.code: system for system in systems})

    def _reconciliation(self, systems):
        """One run reviewed (closed) by the demo inventory controller, one in review; without
        that user both wait in review."""
        reviewer = staff_users_named([RECONCILIATION_REVIEWER]).get(RECONCILIATION_REVIEWER)
        runs = seed_demo_reconciliation(reviewed_system=systems["demo-wms"], open_system=systems["demo-erp"],
                                        reviewer=reviewer)
        if runs:
            self.stdout.write("Demo reconciliation: " + ", ".join(
                f"#{run.pk} {run.system.code} ({run.status}, {run.variance} variance lines)" for run in runs) + ".")
