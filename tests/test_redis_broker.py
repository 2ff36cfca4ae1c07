"""The Redis transport survives closing a channel holding prefetched messages after a lost Redis."""

from __future__ import annotations

import uuid

import pytest
import redis
from kombu import Connection, Exchange, Queue
from kombu.transport import redis as kombu_redis

from workflows_app import redis_broker

URL = "redis://127.0.0.1:6379/9"


@pytest.fixture
def queue_name():
    name = f"wf-test-{uuid.uuid4().hex}"
    yield name
    client = redis.Redis.from_url(URL)
    client.delete(name, "unacked", "unacked_index", "unacked_mutex")


def _channel_holding_an_unacked_message(transport: type, queue_name: str):
    connection = Connection(URL, transport=transport)
    channel = connection.channel()
    queue = Queue(queue_name, Exchange(queue_name), queue_name, channel=channel)
    queue.declare()
    producer = connection.Producer(channel)
    producer.publish({"doorbell": 1}, exchange=queue.exchange, routing_key=queue_name)
    message = queue.get(no_ack=False)
    assert message is not None
    # What a lost connection leaves behind when Celery's consumer restarts:
    # the channel still holds the delivered message, its connection's
    # parameters are already gone.
    channel.connection.client = None
    return connection, channel


def test_closing_after_a_lost_connection_does_not_raise(queue_name):
    _, channel = _channel_holding_an_unacked_message(redis_broker.Transport, queue_name)
    channel.close()  # stock kombu: AttributeError 'NoneType' object has no attribute 'hostname'
    assert channel.qos._delivered == {}


def test_stock_kombu_raises_there(queue_name):
    """Guards the premise: if kombu fixes it, this module can go."""
    _, channel = _channel_holding_an_unacked_message(kombu_redis.Transport, queue_name)
    with pytest.raises(AttributeError, match="hostname"):
        channel.close()


def test_redis_urls_use_our_transport():
    import project.celery  # noqa: F401  (maps the URL schemes)

    assert isinstance(Connection(URL).transport, redis_broker.Transport)
    assert isinstance(Connection("rediss://127.0.0.1:6379/9").transport, redis_broker.Transport)
