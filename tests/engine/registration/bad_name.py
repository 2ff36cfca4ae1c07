from workflows_app.sdk import WorkflowEntrypoint


class NotKebabCase(WorkflowEntrypoint):
    name = "Not_Kebab_Case"

    def run(self, event, step):
        return None
