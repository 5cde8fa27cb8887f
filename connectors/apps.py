from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    """The integrations machinery over the integrations data (`integrations`): the outbox
    relay, the adapters, scheduled sync jobs, the sandbox partner and the health screens."""

    name = "connectors"

    def ready(self):
        from connectors.worker import SystemQueues
        from retailops.celery import app

        app.steps["consumer"].add(SystemQueues)
