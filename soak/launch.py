"""Run a ``manage.py`` command with the soak's workflows module imported first.

``python soak/launch.py workflows_scheduler`` is ``python manage.py
workflows_scheduler`` in a process whose engine clock honours
``WFSOAK_CLOCK_SKEW_SECONDS`` (the scheduler never imports workflow modules
by itself, so the skew would otherwise not reach it).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    importlib.import_module("soak.workflows")  # applies the clock skew, if any
    from django.core.management import execute_from_command_line

    execute_from_command_line([str(ROOT / "manage.py"), *sys.argv[1:]])


if __name__ == "__main__":
    main()
