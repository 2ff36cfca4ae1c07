"""The journal: the engine's only rooms that touch the ORM.

- ``store``: claim an instance, load its journal, and every fenced write an
  activation makes (steps, waits, finish, suspend, release).
- ``meters``: usage meters, keyed and written in one place.
- ``queue``: which instances are due, and the scheduler's marks.
- ``retention``: how long a finished instance keeps its state.
"""

from . import meters, queue, retention, store

__all__ = ["meters", "queue", "retention", "store"]
