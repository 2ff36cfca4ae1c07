from workflows_app.sdk import WorkflowEntrypoint


class Impostor(WorkflowEntrypoint):
    name = "taken-name"

    def run(self, event, step):
        return None
