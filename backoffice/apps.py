from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    """The top of the project: its URL map, the page each role lands on, staff accounts,
    and the commands that set a machine up (demo data, the development stack)."""

    name = "backoffice"
