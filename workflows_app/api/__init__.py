"""The REST API's pieces: routers per area, schemas, params, auth, envelope, errors.

Nothing is built on import: the ``NinjaAPI`` that mounts these routers lives in
``project/api.py``, so importing a router or ``schemas`` stays cheap.
"""
