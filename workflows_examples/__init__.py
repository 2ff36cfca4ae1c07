"""The shipped example workflows: an optional app for demos, dev and the test suite.

Installed when ``WORKFLOWS_DEMO`` is on (the default; see ``project/settings.py``).
A production deployment sets ``WORKFLOWS_DEMO=0`` to register none of them.
The examples use only the public face, ``workflows_app.sdk``.
"""
