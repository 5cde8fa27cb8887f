from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    name = "reconciliation"
    verbose_name = "Reconciliation"

    def ready(self):
        """Reconciliation's say in location confidence: the share of a location's snapshot
        lines that disagreed with the ledger over the window (inventory does not know this
        app; it takes the factor through its registration hook)."""
        from django.conf import settings

        from inventory.confidence.factors import Factor, register
        from reconciliation.selectors import variance_rate_by_location

        register(Factor(
            "reconciliation_variance_rate", "Reconciliation lines with a variance",
            settings.CONFIDENCE_RECONCILIATION_WEIGHT, lambda: settings.CONFIDENCE_MIN_RECONCILED_LINES,
            "reconciled lines", variance_rate_by_location,
        ))
