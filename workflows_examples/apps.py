"""The app config of the optional examples app."""

from django.apps import AppConfig


class WorkflowsExamplesConfig(AppConfig):
    name = "workflows_examples"
    verbose_name = "Workflow examples"
    default_auto_field = "django.db.models.BigAutoField"
