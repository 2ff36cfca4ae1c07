"""The settings the test suite and the type checker load: the project's, with a test-only key.

``project.settings`` refuses to start with DEBUG off and no ``DJANGO_SECRET_KEY``
(as a deployment must). The suite runs with DEBUG off, as production does, and
this key; processes the tests start inherit it through the environment.
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-not-secret-" + "k" * 50)

from project.settings import *  # noqa: F403

# Throttling of authentication failures is off for the suite (many tests send bad
# tokens and passwords from one address); tests/*/test_*throttle* turn it on.
WORKFLOWS_AUTH_FAILURES_PER_CLIENT = 0
WORKFLOWS_AUTH_FAILURES_PER_NAME = 0
