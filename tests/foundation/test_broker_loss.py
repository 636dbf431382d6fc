"""config.broker_loss against the pinned kombu: a channel left behind by a closed broker
connection (what a close half-done against a vanished Redis leaves) raises a connection error
the worker retries, not the AttributeError that made it exit."""

import logging

import pytest
from django.conf import settings
from kombu import Connection
from kombu.transport import redis as kombu_redis

from config import broker_loss

pytestmark = pytest.mark.services


@pytest.fixture(autouse=True)
def _needs_redis():
    if not settings.REDIS_URL:
        pytest.skip("needs Redis (REDIS_URL); make test always provides it")


@pytest.fixture
def left_behind():
    channels = []
    yield lambda: channels.append(_left_behind_channel()) or channels[-1]
    for channel in channels:
        channel.qos._on_collect.cancel()  # no second restore attempt when the test run exits
        channel.qos._delivered.clear()


def _left_behind_channel():
    """A channel with an unacknowledged delivery whose connection was then closed, as the
    worker's consumer closes it on losing the broker, after the channel's own close failed
    half-way (its pools dropped, its QoS not restored)."""
    connection = Connection(settings.REDIS_URL)
    channel = connection.channel()
    channel.qos._delivered["tag-1"] = object()  # held, never acknowledged
    channel._disconnect_pools()
    connection._do_close_transport()  # transport.client = None, as Connection.collect() leaves
    return channel


def test_without_it_kombu_raises_an_attribute_error_the_worker_does_not_retry(
    monkeypatch, left_behind
):
    monkeypatch.setattr(kombu_redis.Channel, "_connparams", broker_loss._connparams)
    channel = left_behind()
    with pytest.raises(AttributeError, match="hostname"):
        channel.qos.restore_unacked()
    # Were this fixed upstream, the adapter could go: this test would fail first.


def test_with_it_the_restore_raises_a_connection_error_and_says_what_was_not_put_back(
    caplog, left_behind
):
    assert kombu_redis.Channel._connparams is broker_loss._connparams_while_attached
    channel = left_behind()
    # The logger's own level: an earlier test's worker may have raised the root logger's.
    with caplog.at_level(logging.WARNING, logger=broker_loss.__name__):
        with pytest.raises(kombu_redis.Transport.connection_errors) as raised:
            channel.qos.restore_unacked()
    assert isinstance(raised.value, broker_loss.DetachedChannelError)
    assert "1 unacknowledged message(s) of this worker not put back" in caplog.text
    # An acknowledgement through it is a connection error too, which Celery logs and survives.
    with pytest.raises(kombu_redis.Transport.connection_errors):
        channel.qos.ack("tag-1")


def test_a_live_channel_is_untouched():
    with Connection(settings.REDIS_URL) as connection:
        channel = connection.channel()
        assert channel.client.ping()
        channel.close()
