"""A socket's reads run on the web process's database thread pool and give their connection
back (counted as PostgreSQL's sessions): with the psycopg pool in front (the Procfile's web processes), a connection a pool thread
kept would be lost to every other request of the process."""

import json

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from tests.security.sockets import logged_in, notify_one, socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


def sessions_on_this_database() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        )
        return cursor.fetchone()[0]


async def test_catch_ups_leave_no_database_connection_open():
    user, _, cookie = await sync_to_async(logged_in)()
    await sync_to_async(notify_one)(user)
    before = await sync_to_async(sessions_on_this_database)()

    ws = socket(cookie)
    connected, _ = await ws.connect()
    assert connected
    for _ in range(3):
        await ws.send_to(text_data=json.dumps({"action": "catch_up", "last_id": 0}))
        assert "Quiz night" in await ws.receive_from(timeout=5)
    await ws.disconnect()

    assert await sync_to_async(sessions_on_this_database)() == before

