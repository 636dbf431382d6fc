"""A worker survives its Redis broker vanishing (a restart that comes back empty).

kombu 5.7's Redis transport, when the worker's consumer closes a connection whose broker is
gone, tries to put the messages it holds unacknowledged back into the queue through a
connection that is already detached, and raises ``AttributeError: 'NoneType' object has no
attribute 'hostname'``. Celery treats that as unrecoverable and the worker exits, which under
honcho (``make run``) stops the web and beat processes too. Here the restore is skipped and
logged instead: those messages can only be restored through that very broker, which is gone;
if it comes back with its data, kombu's visibility timeout restores them, and if it comes back
empty, what they were for is owed in the database and the sweep and relay send it.
"""

import logging

from kombu.transport import redis as kombu_redis

logger = logging.getLogger(__name__)

_restore_unacked = kombu_redis.QoS.restore_unacked


def _broker_detached(qos) -> bool:
    transport = getattr(qos.channel, "connection", None)
    return transport is None or getattr(transport, "client", None) is None


def restore_unacked(self, client=None):
    if client is None and _broker_detached(self):
        if self._delivered:
            logger.warning(
                "Broker connection lost: %d unacknowledged message(s) not restored now (the "
                "broker's visibility timeout restores them if it kept them; the database "
                "sweep covers what they were for if not)", len(self._delivered),
            )
        self._delivered.clear()
        return None
    return _restore_unacked(self, client)


def install() -> None:
    kombu_redis.QoS.restore_unacked = restore_unacked
