from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"

    def ready(self):
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save

        from integrations import outbox
        from integrations.authentication import forget_clients_on_save
        from integrations.models import ApiClient, ExternalSystem
        from inventory.ledger import levels_changed

        # A revoked token, a narrowed scope or a deactivated user counts from the next request.
        for model in (ApiClient, ExternalSystem, get_user_model()):
            for name, signal in (("save", post_save), ("delete", post_delete)):
                signal.connect(forget_clients_on_save, sender=model, weak=False,
                               dispatch_uid=f"integrations.forget_clients.{name}.{model._meta.label_lower}")

        def write_availability_messages(sender, *, keys, **kwargs):
            # Inside the posting transaction: the messages commit or roll back with the change.
            outbox.availability_changed(keys=keys)

        levels_changed.connect(write_availability_messages, dispatch_uid="integrations.availability_outbox",
                               weak=False)
