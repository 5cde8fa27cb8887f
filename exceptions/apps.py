from django.apps import AppConfig


class ExceptionsConfig(AppConfig):
    name = "exceptions"
