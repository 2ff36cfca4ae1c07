"""URLs of the operations console, every page scoped to one account."""

from django.urls import path

from workflows_app.console.views import actions, pages, usage

app_name = "console"

_instance = "a/<str:account_id>/workflows/<str:workflow_name>/instances/<str:instance_id>/"

urlpatterns = [
    path("", pages.home, name="home"),
    path("a/<str:account_id>/", pages.overview, name="overview"),
    path("a/<str:account_id>/instances/", pages.instance_list, name="instances"),
    path("a/<str:account_id>/instances/bulk/", actions.bulk_action, name="bulk"),
    path(_instance, pages.instance_detail, name="instance"),
    path(f"{_instance}<str:action>/", actions.instance_action, name="instance-action"),
    path("a/<str:account_id>/approvals/", actions.approvals, name="approvals"),
    path("a/<str:account_id>/approvals/badge/", actions.approvals_badge, name="approvals-badge"),
    path(
        "a/<str:account_id>/approvals/<int:step_pk>/decide/",
        actions.approval_decide,
        name="approval-decide",
    ),
    path("a/<str:account_id>/audit/", pages.audit_log, name="audit"),
    path("a/<str:account_id>/usage/", usage.usage, name="usage"),
    path("a/<str:account_id>/usage.csv", usage.usage_csv, name="usage-csv"),
]
