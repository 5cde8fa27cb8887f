import time

from django.conf import settings
from django.core.management.base import BaseCommand

from backoffice.demo import seed_demo_users
from connectors.demo import seed_demo_systems
from inventory.demo import seed_master_data, seed_stock_and_history
from returns.demo import seed_demo_returns


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
        systems = seed_demo_systems()
        self.stdout.write(f"Demo external systems (played by the sandbox partner): "
                          f"{', '.join(system.code for system in systems)}.")
        returns = seed_demo_returns(skus=skus)
        states = ", ".join(f"{count} {status}" for status, count in sorted(returns.by_status.items()))
        self.stdout.write(f"Demo returns: {states} ({returns.created} new).")
        if no_users:
            return
        if not (settings.DEBUG or demo_users):
            self.stdout.write("Demo users not created: their passwords are published. They are created under "
                              "DEBUG (as `make run` does) or with --demo-users.")
            return
        self.stdout.write("Demo users (username / password / role):")
        for user, published in seed_demo_users():
            where = f" at {', '.join(user.locations)}" if user.locations else ""
            password = user.password if published else "(an existing account, left as it was)"
            self.stdout.write(f"  {user.username:<22} {password:<22} {user.role}{where}")
