"""The CLI stands on services, selectors and presenters: it never loads the REST API."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# "ninja" is an installed app (its static files serve the API docs), so django.setup()
# imports it; what matters is what importing the CLI adds on top.
PROBE = """
import json, os, sys
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django.setup()
before = set(sys.modules)
import workflows_app.cli.parser
import workflows_app.management.commands.workflows
added = set(sys.modules) - before
print(json.dumps(sorted(m for m in sys.modules if m.startswith("workflows_app.api"))
                 + sorted(m for m in added if m.startswith("ninja"))))
"""


def test_importing_the_cli_loads_no_api_module_and_no_ninja():
    # when a fresh interpreter imports the CLI and its management command
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    )
    # then neither the REST API package nor any further ninja module came with it
    assert json.loads(result.stdout) == []
