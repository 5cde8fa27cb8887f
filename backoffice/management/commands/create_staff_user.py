from django.core.management.base import BaseCommand, CommandError

from backoffice.staff import staff_user_upsert
from retailops.errors import DomainError
from retailops.roles import Role


class Command(BaseCommand):
    help = "Create or update a staff user with a role (and, for store operations, their stores)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--password", required=True)
        parser.add_argument("--locations", default="", help="Comma-separated location codes.")

    def handle(self, *args, username, role, password, locations, **options):
        codes = [code.strip() for code in locations.split(",") if code.strip()]
        try:
            user = staff_user_upsert(username=username, role=role, password=password, location_codes=codes)
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        where = f" at {', '.join(codes)}" if codes else ""
        self.stdout.write(f"{user.username}: {role}{where}")
