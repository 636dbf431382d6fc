import asyncio
import threading
import time

from asgiref.sync import async_to_sync

from config.channel_layers import EmbeddedChannelLayer


async def test_group_send_from_a_worker_thread_wakes_the_server_loop():
    """A push from a worker thread must wake the idle server loop, not wait for its next timer.

    With the plain in-memory layer the loop below would sleep until the 3 s timeout fires; the
    bound asserted is a wake-up, not a performance figure.
    """
    layer = EmbeddedChannelLayer()
    channel = await layer.new_channel()
    await layer.group_add("user.1", channel)
    receiving = asyncio.ensure_future(layer.receive(channel))
    await asyncio.sleep(0.05)  # the receiver is now parked on this (the server's) loop
    pushed_at = []

    def push_from_worker_thread():
        pushed_at.append(time.monotonic())
        async_to_sync(layer.group_send)("user.1", {"type": "notification.created", "id": 7})

    worker = threading.Thread(target=push_from_worker_thread)
    worker.start()
    message = await asyncio.wait_for(receiving, timeout=3)
    received_at = time.monotonic()
    await asyncio.to_thread(worker.join)
    assert message == {"type": "notification.created", "id": 7}
    assert received_at - pushed_at[0] < 1.0


async def test_sends_on_the_server_loop_work_as_the_in_memory_layer():
    layer = EmbeddedChannelLayer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "hello"})
    assert await layer.receive(channel) == {"type": "hello"}
