from django.apps import AppConfig


def _till_returns_held(sender, *, held, actor, **kwargs) -> None:
    from returns.services import till_returns_receive

    till_returns_receive(held=held, actor=actor)


class ReturnsConfig(AppConfig):
    name = "returns"

    def ready(self) -> None:
        from inventory.signals import till_returns_held
        from retailops import inbox
        from returns.views import refund_inbox_section

        inbox.register(refund_inbox_section)  # held refunds show in finance's approval inbox
        # A till return that inventory put into inspection becomes a return on the desk.
        till_returns_held.connect(_till_returns_held, dispatch_uid="returns.till_returns_receive")
