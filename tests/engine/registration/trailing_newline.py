from workflows_app.sdk import WorkflowEntrypoint


class TrailingNewline(WorkflowEntrypoint):
    name = "my-flow\n"

    def run(self, event, step):
        return None
