from django.core.management.base import BaseCommand, CommandError

from connectors.clients import partner_client_issue
from integrations.models import ExternalSystem
from retailops.errors import DomainError


class Command(BaseCommand):
    help = (
        "Create the external system if needed and a new API token for it. "
        "The token is printed alone on the last line; only its hash is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("system_code")
        parser.add_argument("--kind", choices=ExternalSystem.Kind.values, default=ExternalSystem.Kind.WEB)
        parser.add_argument("--scopes", default="", help=(
            "Comma-separated scopes; default: those usual for the system's kind "
            "(master_data only for a token of every location)."))
        parser.add_argument("--locations", default="", help="Comma-separated location codes; default: all.")

    def handle(self, *args, system_code, kind, scopes, locations, **options):
        split = lambda value: [item.strip() for item in value.split(",") if item.strip()]  # noqa: E731
        try:
            issued = partner_client_issue(system_code=system_code, kind=kind, scopes=split(scopes) or None,
                                          location_codes=split(locations))
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        client = issued.client
        system = client.external_system
        where = "all locations" if client.all_locations else ", ".join(sorted(split(locations)))
        self.stdout.write(f"API client {client.pk} for {system.code}: scopes {', '.join(client.scopes)}; {where}")
        self.stdout.write(issued.token)
