"""The embedded default broker: kombu's filesystem transport without its empty-file race.

kombu's own ``filesystem`` transport writes a message by creating the file in
the queue folder and then writing into it, while a consumer takes any file it
lists there and reads it at once. A consumer can therefore take a file that is
still empty (or half written) and fail with ``JSONDecodeError`` in ``_get``,
an error Celery treats as unrecoverable: the worker exits (celery/kombu#1551,
open). It also moves a taken file to the system temp folder, which is a copy
plus delete (not atomic) when that folder is on another filesystem.

This transport keeps kombu's folder layout and file names, so both can read
each other's queues, and removes the race:

* a writer writes the message to a hidden temporary file in the queue folder
  and renames it into place, so a ``*.msg`` file is complete as soon as it is
  visible;
* a reader takes a file by renaming it into ``.claimed/`` in the same folder
  (atomic: exactly one consumer wins), and treats a file that is empty or not
  valid JSON as not written yet: a young one is put back for a later poll, one
  older than :data:`INCOMPLETE_GRACE_SECONDS` is dropped with a warning (a
  doorbell only; the scheduler re-sends whatever is still due). Such a file
  never stops the consumer. A file claimed by a consumer that died before
  reading it is put back after :data:`ORPHAN_SECONDS`.

``project/celery.py`` maps the ``filesystem://`` URL to this transport.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
import uuid
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem, virtual
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

logger = logging.getLogger("workflows_app.broker")

#: A message file still empty or invalid this long after it was last written
#: is dropped (a writer that died mid-write, or a foreign file).
INCOMPLETE_GRACE_SECONDS = 5.0

CLAIMED_FOLDER = ".claimed"

#: A claimed file still there this long after its claim belongs to a consumer
#: that died between claiming and reading it: it goes back to the queue.
ORPHAN_SECONDS = 60.0


class Channel(filesystem.Channel):
    """Atomic writes (temp file + rename) and reads that skip an incomplete file."""

    # kombu's two base classes name the second argument differently.
    def _put(self, queue: Any, message: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Put ``message`` onto ``queue``: visible only once completely written."""
        name = f"{round(time.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        folder = self.data_folder_out
        # A leading dot: neither this reader nor kombu's matches it as a message.
        temporary = os.path.join(folder, f".{name}.tmp")
        data = str_to_bytes(dumps(message))
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                written = 0
                while written < len(data):
                    written += os.write(fd, data[written:])
            finally:
                os.close(fd)
            os.rename(temporary, os.path.join(folder, name))
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise ChannelError(f"Cannot add file {name!r} to directory") from exc

    def _get(self, queue: Any, timeout: Any = None) -> Any:
        """Take the oldest complete message of ``queue``; ``Empty`` if there is none."""
        suffix = f"{queue}.msg"
        folder = self.data_folder_in
        claimed_folder = os.path.join(folder, CLAIMED_FOLDER)
        try:
            names = sorted(os.listdir(folder))
        except FileNotFoundError:
            names = []
        if CLAIMED_FOLDER not in names:
            os.makedirs(claimed_folder, exist_ok=True)
        elif time.monotonic() - getattr(self, "_orphans_checked", 0.0) > ORPHAN_SECONDS / 2:
            self._orphans_checked = time.monotonic()
            self._requeue_orphans(claimed_folder, folder)
        for name in names:
            # kombu's file names: "<ms>_<uuid>.<queue>.msg"
            if name.partition(".")[2] != suffix:
                continue
            source = os.path.join(folder, name)
            claimed = os.path.join(claimed_folder, name)
            try:
                os.rename(source, claimed)  # atomic: one consumer wins
            except OSError:
                continue  # another consumer took it
            found, payload = self._read_claimed(claimed, source)
            if found:
                return payload
        raise virtual.Empty()

    @staticmethod
    def _requeue_orphans(claimed_folder: str, folder: str) -> None:
        """Put back files claimed long ago (the claim, a rename, set their ctime)."""
        with contextlib.suppress(OSError):
            for entry in os.scandir(claimed_folder):
                with contextlib.suppress(OSError):
                    if time.time() - entry.stat().st_ctime > ORPHAN_SECONDS:
                        os.rename(entry.path, os.path.join(folder, entry.name))
                        logger.warning("put back orphaned broker message file %s", entry.name)

    def _read_claimed(self, claimed: str, source: str) -> tuple[bool, Any]:
        """(True, message) from a file this consumer took, or (False, None) if incomplete."""
        try:
            with open(claimed, "rb") as file:
                filesystem.lock(file, filesystem.LOCK_SH)  # a kombu writer holds LOCK_EX
                try:
                    raw = file.read()
                finally:
                    filesystem.unlock(file)
            age = time.time() - os.stat(claimed).st_mtime
        except OSError:
            logger.warning("could not read broker message file %s; skipped", claimed, exc_info=True)
            return False, None
        try:
            payload = loads(bytes_to_str(raw))
        except (ValueError, UnicodeDecodeError):
            pass
        else:
            self._finish(claimed)
            return True, payload
        if age < INCOMPLETE_GRACE_SECONDS:
            # Still being written (by a writer that does not rename): later.
            with contextlib.suppress(OSError):
                os.rename(claimed, source)
            return False, None
        logger.warning(
            "dropped broker message file %s: %s after %.0f s (a doorbell only; "
            "the scheduler re-sends what is still due)",
            os.path.basename(source),
            "empty" if not raw else f"not valid JSON ({len(raw)} bytes)",
            age,
        )
        with contextlib.suppress(OSError):
            os.unlink(claimed)
        return False, None

    def _finish(self, claimed: str) -> None:
        """Remove a message file that was read (or keep it, with ``store_processed``)."""
        if self.store_processed:
            os.makedirs(self.processed_folder, exist_ok=True)
            with contextlib.suppress(OSError):
                shutil.move(claimed, self.processed_folder)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(claimed)


class Transport(filesystem.Transport):
    """kombu's filesystem transport with :class:`Channel`."""

    Channel = Channel
    global_state = virtual.BrokerState()
