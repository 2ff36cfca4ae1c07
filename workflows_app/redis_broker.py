"""kombu's Redis transport, made to survive the close that follows a lost connection.

When Redis goes away while a worker holds prefetched messages that it has not
acknowledged yet, Celery's consumer restarts its connection. Closing the old
channel restores those messages, and kombu does that through a client built
from the connection's parameters, which the closing connection has already
dropped: ``AttributeError: 'NoneType' object has no attribute 'hostname'``.
Celery treats it as unrecoverable and the worker exits (seen by the nemesis soak
on every few Redis restarts).

Nothing needs to be restored here. Our messages are doorbells: the database is
the queue, and the scheduler rings again for whatever is still due. Redis also
keeps its own copy of every unacknowledged message and hands it back after the
visibility timeout. So a restore that cannot reach Redis is logged and skipped.

``project/celery.py`` maps the ``redis://`` and ``rediss://`` URLs to this transport.
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.transport import redis

logger = logging.getLogger(__name__)


class QoS(redis.QoS):
    def restore_unacked(self, client: Any = None) -> None:
        try:
            super().restore_unacked(client)
        except (AttributeError, *redis.Transport.connection_errors) as exc:
            delivered: Any = self._delivered  # an OrderedDict once a message was delivered
            logger.warning(
                "could not hand back %d prefetched message(s) after losing Redis (%s); "
                "the scheduler re-sends what is still due",
                len(delivered or ()),
                exc,
            )
            if delivered:
                delivered.clear()


class Channel(redis.Channel):
    QoS = QoS


class Transport(redis.Transport):
    Channel = Channel
