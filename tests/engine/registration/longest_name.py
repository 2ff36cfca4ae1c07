from workflows_app.sdk import WorkflowEntrypoint


class LongestName(WorkflowEntrypoint):
    name = "a" * 64

    def run(self, event, step):
        return "sixty-four"
