"""The Celery app: configured from Django settings (the ``CELERY_`` namespace).

Celery is only a transport for "advance instance X" messages; the engine never
imports it. Start a worker with ``python manage.py workflows_worker`` (or
``celery -A project worker``) and the scheduler with
``python manage.py workflows_scheduler``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workflows_app"])


@app.on_after_configure.connect
def _create_filesystem_broker_dirs(sender: Celery, **kwargs: Any) -> None:
    """The filesystem transport expects its folders to exist, in every process."""
    if not str(sender.conf.broker_url or "").startswith("filesystem://"):
        return
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)
