from django.apps import AppConfig


def _receipts_recorded(sender, *, receipts, actor, **kwargs) -> None:
    from receiving.services import receipts_without_asn_report

    receipts_without_asn_report(receipts=receipts, actor=actor)


class ReceivingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "receiving"
    verbose_name = "Supplier receipts"

    def ready(self) -> None:
        from inventory.signals import receipts_recorded

        # A partner's receipt event, put on hand outside any notice, opens a receipt case.
        receipts_recorded.connect(_receipts_recorded, dispatch_uid="receiving.receipts_without_asn_report")
