from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from retailops.errors import DomainError
from retailops.mfa import mfa_reset


class Command(BaseCommand):
    help = ("Remove a person's authenticator app and recovery codes (a lost phone): they enrol again at "
            "their next sign-in. Recorded with the operator and the reason.")

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--reason", required=True, help="Why, for the record.")
        parser.add_argument("--by", required=True, help="Username of the ops admin doing it.")

    def handle(self, *args, username, reason, by, **options):
        found = {user.username: user for user in get_user_model().objects.filter(username__in=[username, by])}
        for name in (username, by):
            if name not in found:
                raise CommandError(f"No user named '{name}'.")
        user, actor = found[username], found[by]
        try:
            removed = mfa_reset(user=user, actor=actor, reason=reason)
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        self.stdout.write(f"{username}: {removed} device(s) removed; they enrol again at their next sign-in.")
