"""Liveness and readiness probes for load balancers and orchestrators."""

from django.conf import settings
from django.contrib.staticfiles.storage import staticfiles_storage
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from retailops.celery import app as celery_app


@require_GET
def healthz(request):
    """The process serves requests."""
    return JsonResponse({"status": "ok"})


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _check_broker() -> str:
    with celery_app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "ok"


def _check_static() -> str:
    """Every page links the stylesheet through the static storage: in production (the
    manifest storage) that fails until `collectstatic` has run."""
    try:
        staticfiles_storage.url("css/app.css")
    except ValueError as exc:
        return f"error: static files are not collected (run `manage.py collectstatic`): {exc}"[:300]
    return "ok"


@require_GET
def readyz(request):
    """The process can do its work: the database and the broker answer, and the static
    files its pages link are there."""
    checks = {}
    for name, check in (("database", _check_database), ("broker", _check_broker), ("static", _check_static)):
        try:
            checks[name] = check()
        except Exception as exc:  # any failure means "not ready"; say which and why
            checks[name] = f"error: {exc.__class__.__name__}: {exc}"[:300]
    ready = all(result == "ok" for result in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)
