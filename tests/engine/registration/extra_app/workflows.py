"""Discovered as ``<app>.workflows`` because the app is installed."""

from workflows_app.sdk import WorkflowEntrypoint


class FromAnApp(WorkflowEntrypoint):
    name = "from-an-app"

    def run(self, event, step):
        return "found through the app's workflows module"
