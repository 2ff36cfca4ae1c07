from workflows_app.sdk import WorkflowEntrypoint


class FirstNameFits(WorkflowEntrypoint):
    name = "a" * 64

    def run(self, event, step):
        return None


class SecondNameTooLong(WorkflowEntrypoint):
    name = "b" * 65

    def run(self, event, step):
        return None
