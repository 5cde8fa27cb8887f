"""The Celery application. Workers and beat import tasks from every installed app."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "retailops.settings")

app = Celery("retailops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
