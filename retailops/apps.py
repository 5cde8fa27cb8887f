from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_migrate


class RetailopsConfig(AppConfig):
    name = "retailops"
    verbose_name = "RetailOps"

    def ready(self) -> None:
        # schema registers OpenAPI extensions.
        from retailops import mfa, roles, schema, sessions  # noqa: F401

        # Permissions exist only after migrate has created every model, so the role
        # table is synced after each migrate rather than frozen in a data migration.
        post_migrate.connect(roles.sync_roles_after_migrate, dispatch_uid="retailops.sync_roles")
        # A sign-in stamps its session: when it began, and that the password was just typed.
        user_logged_in.connect(sessions.session_begin, dispatch_uid="retailops.session_begin")
        # … and whether it owes a second factor (retailops.mfa).
        user_logged_in.connect(mfa.mfa_session_begin, dispatch_uid="retailops.mfa_session_begin")
