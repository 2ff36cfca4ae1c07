"""The four example workflows, registered like any app's (discovered as ``<app>.workflows``)."""

from workflows_examples.code_review import CodeReviewWorkflow
from workflows_examples.nightly_report import NightlyReportWorkflow
from workflows_examples.order_processing import OrderProcessingWorkflow
from workflows_examples.welcome_drip import WelcomeDripWorkflow

__all__ = [
    "CodeReviewWorkflow",
    "NightlyReportWorkflow",
    "OrderProcessingWorkflow",
    "WelcomeDripWorkflow",
]
