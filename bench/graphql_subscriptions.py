"""GraphQL subscription benchmark: ``bench/sockets.py``'s run, with GraphQL subscribers.

The same services-mode processes, users, sessions, ramp, idle measurement, one ``notify()`` to
all and the bare-server floor as ``bench/sockets.py`` (see its docstring and
``docs/benchmarks.md``), but each client is a ``graphql-transport-ws`` subscriber on
``/graphql/``: it connects, sends ``connection_init``, waits for ``connection_ack``, subscribes
to ``notificationCreated``, and counts as connected once a probe subscription's first frame
says the socket listens to the user's live events. Latency is the commit (an ``on_commit`` callback
registered first) to the ``next`` frame carrying the notification, same clock; lost and dup
as in ``bench/sockets.py``. Against a database and a Redis db of its own (both wiped):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/herald_bench_graphql \
    REDIS_URL=redis://127.0.0.1:6379/11 .venv/bin/python bench/graphql_subscriptions.py \
        --sockets 1000 --ramp 50

The last line has ``bench/sockets.py``'s fixed format (the ``command:`` line at the top says
which script made it).
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sockets  # noqa: E402 - bench/sockets.py, the run this one reuses

GRAPHQL_PATH = "/graphql/"
PROTOCOL = "graphql-transport-ws"
FEED = "subscription { notificationCreated { id title unreadCount } }"
PROBE = "subscription { unreadCount }"


def _graphql_connect(plain_connect):
    """``websockets``' connect, followed by the GraphQL handshake and the subscription."""

    async def connect(url, **kwargs):
        if not url.endswith(GRAPHQL_PATH):  # the floor server
            return await plain_connect(url, **kwargs)
        ws = await plain_connect(url, subprotocols=[PROTOCOL], **kwargs)
        try:
            await ws.send(json.dumps({"type": "connection_init"}))
            ack = json.loads(await ws.recv())
            if ack.get("type") != "connection_ack":
                raise ConnectionError(f"no connection_ack: {ack}")
            await ws.send(json.dumps({"id": "feed", "type": "subscribe",
                                      "payload": {"query": FEED}}))
            # The socket starts its subscriptions one at a time, in order: the probe's first
            # frame means the feed listens.
            await ws.send(json.dumps({"id": "probe", "type": "subscribe",
                                      "payload": {"query": PROBE}}))
            while json.loads(await ws.recv()).get("id") != "probe":
                pass
            await ws.send(json.dumps({"id": "probe", "type": "complete"}))
        except BaseException:
            await ws.close()
            raise
        return ws

    return connect


def client_process(*args, **kwargs) -> None:
    """``bench/sockets.py``'s client process, its sockets opened as GraphQL subscribers."""
    import websockets.asyncio.client as client

    client.connect = _graphql_connect(client.connect)
    plain_client_process(*args, **kwargs)


plain_client_process = sockets.client_process


def main() -> None:
    # The run of bench/sockets.py, pointed at /graphql/ with the clients above.
    sockets.WS_PATH = GRAPHQL_PATH
    sockets.client_process = client_process
    sockets.main()


if __name__ == "__main__":
    main()
