from workflows_app.sdk import WorkflowEntrypoint


class Original(WorkflowEntrypoint):
    name = "taken-name"

    def run(self, event, step):
        return None
