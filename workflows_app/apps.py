"""The app's configuration: registers its system checks (``checks.py``)."""

from django.apps import AppConfig
from django.core import checks as django_checks

from workflows_app import checks


class WorkflowsAppConfig(AppConfig):
    name = "workflows_app"
    verbose_name = "Workflows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        django_checks.register(checks.check_dispatcher)
        django_checks.register(checks.check_durations)
        django_checks.register(checks.check_duration_relations)
