"""The Cloudflare-compatible REST API, mounted at /client/v4/ (see project/urls.py).

The one place the ``NinjaAPI`` is built: its routers, auth, body parser and
exception handlers. Importing a router or ``workflows_app.api.schemas`` builds
nothing. Interactive docs at /client/v4/docs, the schema at /client/v4/openapi.json.
"""

from __future__ import annotations

from ninja import NinjaAPI

from workflows_app.api.auth import BearerAuth
from workflows_app.api.errors import register_exception_handlers
from workflows_app.api.instances import router as instances_router
from workflows_app.api.parsing import StrictJsonParser
from workflows_app.api.usage import router as usage_router
from workflows_app.api.workflows import router as workflows_router


class WorkflowsAPI(NinjaAPI):
    def set_default_exception_handlers(self) -> None:
        # Every error gets the Cloudflare envelope: errors.py registers a handler
        # per family in place of ninja's defaults.
        register_exception_handlers(self)


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
