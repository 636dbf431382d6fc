"""A Celery worker rides out its Redis broker vanishing (a restart, a failover) instead of crashing.

When the worker's consumer loses the broker it closes that connection (``Connection.collect``)
and makes a new one. Closing a channel whose socket is dead can fail half-way (draining the
pending ``BRPOP`` or deleting an auto-delete queue raises), so kombu 5.7's Redis transport
leaves channels behind that are still tied to the old transport, whose ``client`` is then set
to ``None``. The next use of such a channel that needs a new Redis connection pool (putting its
unacknowledged messages back, acknowledging a task that finished after the loss) builds the
pool's parameters from ``transport.client.hostname`` and raises ``AttributeError: 'NoneType'
object has no attribute 'hostname'``. That is not one of the connection errors Celery retries,
so the worker exits ("Unrecoverable error"), and under honcho (``make run``) the web processes
and beat stop with it.

Here that use raises ``redis.exceptions.ConnectionError`` instead, which every caller already
treats as the broker being gone: a restore at close is given up (logged at WARNING with the
count; if the broker kept the messages, its visibility timeout puts them back, and if it came
back empty the database sweep and relay send what they were for), an acknowledgement is logged
as not made, and the consumer reconnects. ``tests/foundation/test_broker_loss.py`` shows the
crash against the pinned kombu and its replacement; ``tests/chaos/test_broker_restart.py``
restarts a real broker under a busy worker.
"""

import logging

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

logger = logging.getLogger(__name__)

_connparams = kombu_redis.Channel._connparams


class DetachedChannelError(RedisConnectionError):
    """A channel of a broker connection that was already closed was asked for a new pool."""


def _connparams_while_attached(self, asynchronous=False):
    transport = self.connection
    if transport is None or transport.client is None:
        qos = getattr(self, "_qos", None)
        unacked = len(qos._delivered) if qos is not None else 0
        if unacked:
            logger.warning(
                "Broker connection closed: %d unacknowledged message(s) of this worker not put "
                "back now (the broker's visibility timeout does if it kept them; if it restarted "
                "empty, the database sweep and relay send what they were for)", unacked,
            )
        raise DetachedChannelError("this channel's broker connection is closed")
    return _connparams(self, asynchronous=asynchronous)


def install() -> None:
    kombu_redis.Channel._connparams = _connparams_while_attached
