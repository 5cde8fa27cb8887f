from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"

    def ready(self):
        from integrations import outbox
        from inventory.ledger import levels_changed

        def write_availability_messages(sender, *, keys, **kwargs):
            # Inside the posting transaction: the messages commit or roll back with the change.
            outbox.availability_changed(keys=keys)

        levels_changed.connect(write_availability_messages, dispatch_uid="integrations.availability_outbox",
                               weak=False)
