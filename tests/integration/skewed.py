"""Run a process whose engine clock is skewed: ``python -m tests.integration.skewed SECONDS ARGS…``.

There is no libfaketime here: the skew is set the way a wrong host clock would
show in the engine, with ``clock.set_clock`` in that process only (forked
Celery pool children inherit it). ``ARGS`` is either ``celery …`` (a worker)
or a ``manage.py`` command line (``workflows_scheduler``).
"""

from __future__ import annotations

import datetime as dt
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

import django

django.setup()

from django.utils import timezone  # noqa: E402

from workflows_app.engine import clock  # noqa: E402


def main() -> None:
    skew = dt.timedelta(seconds=float(sys.argv[1]))
    clock.set_clock(lambda: timezone.now() + skew)
    argv = sys.argv[2:]
    if argv[0] == "celery":
        from celery.__main__ import main as celery_main

        sys.argv = argv
        celery_main()
    else:
        from django.core.management import execute_from_command_line

        execute_from_command_line(["manage.py", *argv])


if __name__ == "__main__":
    main()
