from django.apps import AppConfig


class ReceivingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "receiving"
    verbose_name = "Supplier receipts"
