"""Workflows registered by this app (discovered as ``<app>.workflows``)."""

from workflows_app.examples.code_review import CodeReviewWorkflow
from workflows_app.examples.nightly_report import NightlyReportWorkflow
from workflows_app.examples.order_processing import OrderProcessingWorkflow
from workflows_app.examples.welcome_drip import WelcomeDripWorkflow

__all__ = [
    "CodeReviewWorkflow",
    "NightlyReportWorkflow",
    "OrderProcessingWorkflow",
    "WelcomeDripWorkflow",
]
