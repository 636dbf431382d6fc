"""Subscriptions through real graphql-transport-ws clients on the Redis channel layer."""

import json

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.db import transaction

from events import services as event_services
from leaderboard import live as leaderboard_live
from leaderboard.services import score_submit
from notifications.realtime import push
from notifications import services as notification_services
from tests.events.factories import EventFactory
from tests.factories import UserFactory
from tests.graphql.conftest import notify_user
from graphql_api import subscriptions
from graphql_api.cursors import notification_cursor
from tests.graphql.ws import GraphQLSocket, open_socket, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

CREATED = """subscription($after: String) {
  notificationCreated(after: $after) { id cursor kind priority title unreadCount } }"""


@pytest.fixture(autouse=True)
async def no_connection_left_behind():
    """Sync code called from these async tests runs on one worker thread; its connection is
    closed afterwards, as the consumers' own reads do, so the test database can be dropped."""
    yield
    await database_sync_to_async(lambda: None)()


@sync_to_async
def user_and_cookie(username):
    user = UserFactory(username=username)
    return user, session_cookie(user)


async def test_anonymous_socket_is_refused_at_connection_init():
    socket = GraphQLSocket(cookie=None)
    closed = await socket.open()
    assert closed == {"type": "websocket.close", "code": 4403, "reason": "Forbidden"}


async def test_foreign_origin_is_refused_at_the_handshake():
    _, cookie = await user_and_cookie("mallory")
    socket = GraphQLSocket(cookie, origin=b"https://evil.example")
    connected, _ = await socket.communicator.connect()
    assert not connected


async def test_notification_created_arrives_live_and_only_for_its_user():
    alice, cookie = await user_and_cookie("alice")
    bob, _ = await user_and_cookie("bob")
    socket = await open_socket(cookie)
    await socket.subscribe("1", CREATED)
    await socket.subscribe("2", "subscription { unreadCount }")
    assert await socket.next_data("2") == {"unreadCount": 0}

    await sync_to_async(notify_user)(bob, "for bob")
    mine = await sync_to_async(notify_user)(alice, "Quiz night")

    frames = [await socket.receive(), await socket.receive()]
    by_id = {frame["id"]: frame["payload"]["data"] for frame in frames}
    created = by_id["1"]["notificationCreated"]
    assert created["id"] == str(mine)
    assert created["title"] == "Quiz night was updated"
    assert created["priority"] == "NORMAL" and created["unreadCount"] == 1
    assert by_id["2"] == {"unreadCount": 1}
    await socket.close()


async def test_resume_from_cursor_replays_what_was_missed_then_goes_live_without_duplicates():
    alice, cookie = await user_and_cookie("alice")
    socket = await open_socket(cookie)
    await socket.subscribe("feed", CREATED)
    await socket.ready()
    first = await sync_to_async(notify_user)(alice, "first")
    seen = (await socket.next_data("feed"))["notificationCreated"]
    assert seen["id"] == str(first)
    await socket.close()

    # Offline: two arrive, one of which is read elsewhere before the client is back.
    missed = await sync_to_async(notify_user)(alice, "missed")
    read_elsewhere = await sync_to_async(notify_user)(alice, "read elsewhere")
    await sync_to_async(notification_services.notification_mark_read)(
        user=alice, notification_id=read_elsewhere
    )

    socket = await open_socket(cookie)
    await socket.subscribe("feed", CREATED, {"after": seen["cursor"]})
    replayed = (await socket.next_data("feed"))["notificationCreated"]
    assert replayed["id"] == str(missed)
    await socket.ready()
    live = await sync_to_async(notify_user)(alice, "live")
    assert (await socket.next_data("feed"))["notificationCreated"]["id"] == str(live)

    # A repeated push (pushes are at least once) and one for a row before the cursor are
    # not shown again.
    await sync_to_async(push.push_notifications)([live, first])
    after = await sync_to_async(notify_user)(alice, "after")
    assert (await socket.next_data("feed"))["notificationCreated"]["id"] == str(after)
    await socket.close()


async def test_replay_pages_through_a_long_absence(monkeypatch):
    monkeypatch.setattr(subscriptions, "REPLAY_BATCH", 3)
    alice, cookie = await user_and_cookie("alice")
    first = await sync_to_async(notify_user)(alice, "seen")
    ids = [await sync_to_async(notify_user)(alice, f"away {n}") for n in range(4)]
    socket = await open_socket(cookie)
    await socket.subscribe("feed", "subscription($after: String) { notificationCreated("
                           "after: $after) { id } }", {"after": notification_cursor(first)})
    got = [int((await socket.next_data("feed"))["notificationCreated"]["id"]) for _ in ids]
    assert got == ids
    await socket.close()


async def test_unread_count_follows_read_state_changes():
    alice, cookie = await user_and_cookie("alice")
    notification_id = await sync_to_async(notify_user)(alice, "one")
    socket = await open_socket(cookie)
    await socket.subscribe("badge", "subscription { unreadCount }")
    assert await socket.next_data("badge") == {"unreadCount": 1}
    await sync_to_async(notification_services.notification_mark_read)(
        user=alice, notification_id=notification_id
    )
    assert await socket.next_data("badge") == {"unreadCount": 0}
    await sync_to_async(notify_user)(alice, "two")
    assert await socket.next_data("badge") == {"unreadCount": 1}
    await socket.close()


EVENT = """subscription($id: ID!) { eventUpdated(eventId: $id) {
  eventId title location status placesLeft startsAt } }"""


async def test_event_updated_sends_the_state_then_every_change():
    alice, cookie = await user_and_cookie("alice")
    event = await sync_to_async(EventFactory)(title="Quiz", location="Room A", capacity=3)
    socket = await open_socket(cookie)
    await socket.subscribe("ev", EVENT, {"id": event.pk})
    now = (await socket.next_data("ev"))["eventUpdated"]
    assert now["placesLeft"] == 3 and now["location"] == "Room A"
    assert now["status"] == "SCHEDULED"

    await sync_to_async(event_services.registration_create)(user=alice, event=event)
    assert (await socket.next_data("ev"))["eventUpdated"]["placesLeft"] == 2
    await sync_to_async(event_services.event_update)(
        event=event, actor=None, changes={"location": "Main hall"}
    )
    assert (await socket.next_data("ev"))["eventUpdated"]["location"] == "Main hall"
    await sync_to_async(event_services.event_cancel)(event=event, actor=None)
    assert (await socket.next_data("ev"))["eventUpdated"]["status"] == "CANCELLED"
    await socket.close()


async def test_event_updated_for_an_unknown_event_is_refused():
    _, cookie = await user_and_cookie("alice")
    socket = await open_socket(cookie)
    await socket.subscribe("ev", EVENT, {"id": 999999})
    message = await socket.receive()
    assert message["type"] == "error" or message["payload"]["errors"], message
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"
    await socket.close()


async def test_leaderboard_changed_carries_the_top():
    alice, cookie = await user_and_cookie("alice")
    socket = await open_socket(cookie)
    await socket.subscribe("board", "subscription { leaderboardChanged { top { rank username"
                           " total } myRank } }")
    assert await socket.next_data("board") == {"leaderboardChanged": {"top": [], "myRank": None}}
    await sync_to_async(score_submit)(user_id=alice.pk, points=40, games=1)
    await sync_to_async(leaderboard_live.broadcast)()  # what the delayed task does
    board = (await socket.next_data("board"))["leaderboardChanged"]
    assert board == {"top": [{"rank": 1, "username": "alice", "total": 40}], "myRank": 1}
    await socket.close()


async def test_a_rolled_back_service_sends_no_subscription_event():
    alice, cookie = await user_and_cookie("alice")
    event = await sync_to_async(EventFactory)(capacity=5)
    socket = await open_socket(cookie)
    await socket.subscribe("feed", CREATED)
    await socket.subscribe("ev", EVENT, {"id": event.pk})
    await socket.ready()
    assert (await socket.next_data("ev"))["eventUpdated"]["placesLeft"] == 5

    @sync_to_async
    def rolled_back():
        with pytest.raises(RuntimeError), transaction.atomic():
            event_services.registration_create(user=alice, event=event)
            notify_user(alice, "never")
            raise RuntimeError("the caller fails after the services ran")

    await rolled_back()
    committed = await sync_to_async(notify_user)(alice, "committed")
    await sync_to_async(event_services.event_update)(
        event=event, actor=None, changes={"location": "Elsewhere"}
    )
    frames = {}
    while len(frames) < 2:
        frame = await socket.receive()
        assert frame["id"] not in frames, f"a second frame for {frame['id']}: {frame}"
        frames[frame["id"]] = frame["payload"]["data"]
    assert frames["feed"]["notificationCreated"]["id"] == str(committed)
    assert frames["ev"]["eventUpdated"]["placesLeft"] == 5  # the rolled-back place is not taken
    assert frames["ev"]["eventUpdated"]["location"] == "Elsewhere"
    await socket.close()


async def test_subscriptions_refuse_operations_over_the_limits(settings):
    settings.GRAPHQL_MAX_DEPTH = 1
    _, cookie = await user_and_cookie("alice")
    socket = await open_socket(cookie)
    await socket.subscribe("board", "subscription { leaderboardChanged { top { rank } } }")
    message = await socket.receive()
    assert message["type"] == "error" and "depth" in json.dumps(message["payload"]), message
    # A document that does not parse is a protocol error: the socket closes with 4400.
    await socket.send({"id": "x", "type": "subscribe", "payload": {"query": "subscription {"}})
    closed = await socket.communicator.receive_output(timeout=5)
    assert closed["type"] == "websocket.close" and closed["code"] == 4400
    assert "Syntax Error" in closed["reason"]
    await socket.communicator.wait()



async def test_after_an_interruption_of_live_events_the_feed_catches_up_from_the_database():
    from notifications.realtime import live

    alice, cookie = await user_and_cookie("alice")
    socket = await open_socket(cookie)
    await socket.subscribe("feed", CREATED)
    await socket.ready()

    @sync_to_async
    def committed_without_its_push():
        with transaction.atomic():
            notification_id = notify_user(alice, "lost push")
            # What an outage of the live events loses: the after-commit push.
            transaction.get_connection().run_on_commit.clear()
        return notification_id

    lost = await committed_without_its_push()
    (consumer,) = live._listener().sockets[alice.pk]
    await consumer.resume()  # what notifications.realtime.live does once the layer answers again
    assert (await socket.next_data("feed"))["notificationCreated"]["id"] == str(lost)
    await consumer.resume()  # a second interruption: nothing is sent twice
    after = await sync_to_async(notify_user)(alice, "after")
    assert (await socket.next_data("feed"))["notificationCreated"]["id"] == str(after)
    await socket.close()
    assert alice.pk not in live._listener().sockets
