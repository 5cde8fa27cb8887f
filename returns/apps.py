from django.apps import AppConfig


class ReturnsConfig(AppConfig):
    name = "returns"

    def ready(self) -> None:
        from retailops import inbox
        from returns.views import refund_inbox_section

        inbox.register(refund_inbox_section)  # held refunds show in finance's approval inbox
