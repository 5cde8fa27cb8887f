from django.apps import AppConfig


class CaseworkConfig(AppConfig):
    """Working cases, above the apps they act on: the queues and the case screens, the
    resolution actions (done through the owning app's services) and the scheduled
    detectors. Raising a case is `exceptions`, below every app that raises one."""

    name = "casework"
