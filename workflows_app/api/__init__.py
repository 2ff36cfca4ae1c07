"""The Cloudflare-compatible REST API, mounted at /client/v4/ (see project/urls.py).

Interactive docs at /client/v4/docs, the schema at /client/v4/openapi.json.
"""

from __future__ import annotations

from functools import partial

from ninja import NinjaAPI

from .auth import BearerAuth
from .errors import handle_exception
from .instances import router as instances_router
from .parsing import StrictJsonParser
from .usage import router as usage_router
from .workflows import router as workflows_router


class WorkflowsAPI(NinjaAPI):
    def set_default_exception_handlers(self) -> None:
        # ONE handler for everything: errors.py maps each exception class to a status.
        self.add_exception_handler(Exception, partial(handle_exception, api=self))


api = WorkflowsAPI(
    title="Workflows for Django",
    version="4",
    description=(
        "Cloudflare Workflows REST API (api.cloudflare.com/client/v4), self-hosted. "
        "Authenticate with `Authorization: Bearer <token>` "
        "(`manage.py workflows tokens create --account <id>`)."
    ),
    auth=BearerAuth(),
    parser=StrictJsonParser(),
    urls_namespace="api",
)
api.add_router("", workflows_router)
api.add_router("", instances_router)
api.add_router("", usage_router)

__all__ = ["api"]
