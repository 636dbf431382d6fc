"""The suite's channel layers: the configured ones, also recording what the live fan-out
publishes while a test asks for it (the ``notification_outbox`` fixture), as Django's locmem
email backend keeps ``mail.outbox``. The product's code has no test hook for this."""

from __future__ import annotations

import functools

from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer

from config.channel_layers import EmbeddedChannelLayer

# (user id, event) of each live event published while a test records; None when none does.
published: list[tuple[int, dict]] | None = None


def start_recording() -> list[tuple[int, dict]]:
    global published
    published = []
    return published


def stop_recording() -> None:
    global published
    published = None


def _record(group: str, message: dict) -> None:
    # Not at import: the settings import this module.
    from notifications.realtime.live import FANOUT_GROUP

    if published is not None and group == FANOUT_GROUP:
        published.extend((user_id, event) for user_id, event in message["events"])


class RecordingMixin:
    async def group_send(self, group, message):
        _record(group, message)
        await super().group_send(group, message)


class RecordingRedisChannelLayer(RecordingMixin, RedisChannelLayer):
    pass


class RecordingEmbeddedChannelLayer(RecordingMixin, EmbeddedChannelLayer):
    pass


class RecordingRedisPubSubChannelLayer(RedisPubSubChannelLayer):
    # This layer hands its methods out through __getattr__ (one inner layer per event loop).
    def __getattr__(self, name):
        method = super().__getattr__(name)
        if name != "group_send":
            return method

        @functools.wraps(method)
        async def group_send(group, message):
            _record(group, message)
            await method(group, message)

        return group_send


RECORDING = {
    "channels_redis.pubsub.RedisPubSubChannelLayer": RecordingRedisPubSubChannelLayer,
    "channels_redis.core.RedisChannelLayer": RecordingRedisChannelLayer,
    "config.channel_layers.EmbeddedChannelLayer": RecordingEmbeddedChannelLayer,
}


def recording_backend(backend: str) -> str:
    layer = RECORDING[backend]
    return f"{layer.__module__}.{layer.__qualname__}"
