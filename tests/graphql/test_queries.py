"""Every query through /graphql/ with a session: what it shows, to whom, at what cost."""

from datetime import time, timedelta

import pytest
from django.utils import timezone

from events import services as event_services
from leaderboard.models import GameSession
from leaderboard.services import score_submit
from notifications import services as notification_services
from notifications.kinds import EVENT_CANCELLED, EVENT_UPDATED
from tests.events.factories import EventFactory
from tests.factories import UserFactory
from tests.graphql.conftest import error_codes, logged_in, notify_user
from tests.leaderboard.factories import GameFactory

pytestmark = pytest.mark.django_db

FEED = """
query Feed($first: Int!, $after: String, $filter: NotificationFilter) {
  me {
    username
    unreadCount
    notifications(first: $first, after: $after, filter: $filter) {
      edges { cursor node { id kind priority title isRead event { id title placesLeft } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""


def feed(gql, **variables):
    return gql.data(FEED, {"first": 20, **variables})["me"]


def test_feed_pages_newest_first_with_keyset_cursors(gql, alice):
    ids = [notify_user(alice, f"n{n}") for n in range(5)]

    first = feed(gql, first=2)
    assert first["username"] == "alice"
    assert first["unreadCount"] == 5
    page = first["notifications"]
    assert [int(edge["node"]["id"]) for edge in page["edges"]] == [ids[4], ids[3]]
    assert page["pageInfo"] == {"hasNextPage": True, "endCursor": page["edges"][-1]["cursor"]}

    rest = feed(gql, first=10, after=page["pageInfo"]["endCursor"])["notifications"]
    assert [int(edge["node"]["id"]) for edge in rest["edges"]] == [ids[2], ids[1], ids[0]]
    assert rest["pageInfo"]["hasNextPage"] is False


def test_feed_filters_by_unread_and_kind(gql, alice):
    read_id = notify_user(alice, "read")
    unread_id = notify_user(alice, "unread")
    cancelled_id = notify_user(alice, "cancelled", kind=EVENT_CANCELLED)
    notification_services.notification_mark_read(user=alice, notification_id=read_id)

    unread = feed(gql, filter={"unread": True})["notifications"]["edges"]
    assert [int(edge["node"]["id"]) for edge in unread] == [cancelled_id, unread_id]
    updated = feed(gql, filter={"kind": EVENT_UPDATED})["notifications"]["edges"]
    assert [int(edge["node"]["id"]) for edge in updated] == [unread_id, read_id]
    assert updated[1]["node"]["isRead"] is True
    assert unread[0]["node"]["priority"] == "URGENT"


def test_feed_query_count_does_not_grow_with_its_rows(
    gql, alice, django_assert_num_queries
):
    def rows(count, start):
        for n in range(start, start + count):
            event = EventFactory(title=f"Event {n}")
            event_services.registration_create(user=alice, event=event)
            notify_user(alice, f"about-{n}", subject=event)

    query = """{ me { notifications(first: 50) { edges { node {
        id title event { id title placesLeft organizer { username }
                         myRegistration { status } following } } } } } }"""
    rows(1, 0)
    gql.data(query)  # warms the content-type cache
    with django_assert_num_queries(6) as one:
        gql.data(query)
    rows(49, 1)
    with django_assert_num_queries(len(one.captured_queries)):
        document = gql.data(query)
    edges = document["me"]["notifications"]["edges"]
    assert len(edges) == 50
    with_event = [edge["node"] for edge in edges if edge["node"]["event"]]
    assert len(with_event) == 50
    assert with_event[0]["event"]["myRegistration"] == {"status": "CONFIRMED"}
    assert with_event[0]["event"]["following"] is True


def test_another_users_notification_is_not_found(gql, bob):
    bobs = notify_user(bob, "for bob")
    document = gql.data("query($id: ID!) { notification(id: $id) { id } }", {"id": bobs})
    assert document == {"notification": None}
    assert gql.data("{ me { notifications { edges { node { id } } } } }") == {
        "me": {"notifications": {"edges": []}}
    }


def test_own_notification_by_id(gql, alice):
    own = notify_user(alice, "mine")
    document = gql.data("query($id: ID!) { notification(id: $id) { id title } }", {"id": own})
    assert document["notification"]["id"] == str(own)
    assert gql.data('{ notification(id: "x") { id } }') == {"notification": None}


@pytest.mark.parametrize(
    "query",
    [
        "{ me { username } }",
        '{ notification(id: "1") { id } }',
        "{ preferences { kind } }",
        "{ quietHours { start } }",
        "{ subscriptions { topic } }",
        "{ events { edges { node { id } } } }",
        '{ event(id: "1") { id } }',
        "{ leaderboard { myRank } }",
        '{ game(id: "1") { id } }',
    ],
)
def test_anonymous_requests_are_refused(anonymous_gql, query):
    document = anonymous_gql(query)
    assert error_codes(document) == ["UNAUTHENTICATED"]
    assert not any((document["data"] or {}).values())


def test_preferences_quiet_hours_and_subscriptions_are_the_viewers(gql, alice, bob):
    notification_services.preference_set(
        user=alice, kind=EVENT_UPDATED, channel="email", enabled=False
    )
    notification_services.quiet_hours_set(
        user=alice, start=time(22, 0), end=time(7, 0), time_zone="Europe/Berlin"
    )
    notification_services.quiet_hours_set(user=bob, start=time(1, 0), end=time(2, 0))
    event = EventFactory(title="Quiz night")
    event_services.event_follow(user=alice, event=event)
    event_services.event_follow(user=bob, event=EventFactory(title="Bob's only"))

    data = gql.data("""{
      preferences { kind label channels { channel enabled } }
      quietHours { start end timeZone }
      subscriptions { topic label url kinds }
    }""")
    updated = next(row for row in data["preferences"] if row["kind"] == EVENT_UPDATED)
    assert {"channel": "EMAIL", "enabled": False} in updated["channels"]
    assert {"channel": "IN_APP", "enabled": True} in updated["channels"]
    assert data["quietHours"] == {"start": "22:00:00", "end": "07:00:00",
                                  "timeZone": "Europe/Berlin"}
    assert data["subscriptions"] == [{"topic": f"events.event:{event.pk}", "label": "Quiz night",
                                      "url": f"/events/{event.pk}/", "kinds": []}]


def test_events_page_by_keyset_and_show_the_viewers_registration(gql, alice):
    soon = timezone.now() + timedelta(days=1)
    events = [EventFactory(title=f"E{n}", starts_at=soon + timedelta(hours=n),
                           ends_at=soon + timedelta(hours=n + 1), capacity=2) for n in range(3)]
    event_services.registration_create(user=alice, event=events[1])
    event_services.registration_create(user=UserFactory(), event=events[1])
    EventFactory(title="Past", starts_at=soon - timedelta(days=3),
                 ends_at=soon - timedelta(days=2))

    query = """query($after: String) { events(first: 2, after: $after) {
        edges { cursor node { title placesLeft myRegistration { status waitlistPosition } } }
        pageInfo { hasNextPage endCursor } } }"""
    first = gql.data(query)["events"]
    assert [edge["node"]["title"] for edge in first["edges"]] == ["E0", "E1"]
    assert first["edges"][1]["node"]["placesLeft"] == 0
    assert first["edges"][1]["node"]["myRegistration"] == {
        "status": "CONFIRMED", "waitlistPosition": None
    }
    second = gql.data(query, {"after": first["pageInfo"]["endCursor"]})["events"]
    assert [edge["node"]["title"] for edge in second["edges"]] == ["E2"]
    assert second["pageInfo"]["hasNextPage"] is False
    past = gql.data("{ events(upcoming: false) { edges { node { title } } } }")["events"]
    assert [edge["node"]["title"] for edge in past["edges"]] == ["Past"]

    one = gql.data("query($id: ID!) { event(id: $id) { title placesLeft capacity status"
                   " myRegistration { status } } }", {"id": events[0].pk})
    assert one["event"] == {"title": "E0", "placesLeft": 2, "capacity": 2,
                            "status": "SCHEDULED", "myRegistration": None}
    assert gql.data('{ event(id: "999999") { id } }') == {"event": None}


def test_a_bad_cursor_is_a_graphql_error(gql):
    document = gql("{ events(after: \"bm9wZQ\") { edges { cursor } } }")
    assert error_codes(document) == ["INVALID"]
    document = gql("{ me { notifications(after: \"!!\") { edges { cursor } } } }")
    assert error_codes(document) == ["INVALID"]


def test_leaderboard_top_around_me_and_rank(gql, alice):
    players = [UserFactory(username=f"p{n}") for n in range(3)]
    for points, player in zip((30, 20, 10), players):
        score_submit(user_id=player.pk, points=points, games=1)
    score_submit(user_id=alice.pk, points=20, games=1)

    board = gql.data("""{ leaderboard { top(limit: 3) { rank username total }
                          aroundMe { rank username } myRank } }""")["leaderboard"]
    assert board["top"] == [
        {"rank": 1, "username": "p0", "total": 30},
        {"rank": 2, "username": "alice", "total": 20},  # ties: the lower user id first
        {"rank": 2, "username": "p1", "total": 20},
    ]
    assert board["myRank"] == 2
    assert [row["username"] for row in board["aroundMe"]] == ["p0", "alice", "p1", "p2"]


def test_game_shows_the_viewers_chapters_and_everyones_results(gql, alice, bob):
    game = GameFactory(players=[alice, bob])
    for player, scores in ((alice, (5, 7)), (bob, (9, 9))):
        GameSession.objects.create(
            game=game, player=player, total_score=sum(scores),
            chapter_scores=[{"chapter": n + 1, "title": f"C{n + 1}", "score": score,
                             "comment": f"{player.username} {n + 1}"}
                            for n, score in enumerate(scores)],
        )
    data = gql.data("query($id: ID!) { game(id: $id) { title chapters { chapter score comment }"
                    " results { rank player { username } totalScore } players { username } } }",
                    {"id": game.pk})["game"]
    assert data["chapters"] == [{"chapter": 1, "score": 5, "comment": "alice 1"},
                                {"chapter": 2, "score": 7, "comment": "alice 2"}]
    assert data["results"] == [{"rank": 1, "player": {"username": "bob"}, "totalScore": 18},
                               {"rank": 2, "player": {"username": "alice"}, "totalScore": 12}]
    assert {player["username"] for player in data["players"]} == {"alice", "bob"}

    outsider = logged_in(UserFactory(username="carol"))
    assert outsider.data("query($id: ID!) { game(id: $id) { chapters { score } } }",
                         {"id": game.pk}) == {"game": {"chapters": []}}
    assert gql.data('{ game(id: "424242") { id } }') == {"game": None}
