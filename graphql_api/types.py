"""The object types of the schema. Model types map fields with strawberry-django; what is
computed per viewer or per list goes through the loaders (``graphql_api.loaders``)."""

from __future__ import annotations

from datetime import datetime, time
from enum import Enum
from typing import Generic, TypeVar

import strawberry
import strawberry_django
from django.contrib.contenttypes.models import ContentType
from strawberry import auto
from strawberry.types import Info

from events.models import Event as EventModel
from events.models import Registration as RegistrationModel
from leaderboard import selectors as leaderboard_selectors
from leaderboard.models import Game as GameModel
from notifications.models import Notification as NotificationModel
from notifications.models import QuietHours as QuietHoursModel
from notifications.realtime.push import BODY_PREVIEW

from graphql_api import cursors

Node = TypeVar("Node")


@strawberry.enum
class Priority(Enum):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


@strawberry.enum
class Channel(Enum):
    IN_APP = "in_app"
    EMAIL = "email"
    PUSH = "push"
    SMS = "sms"
    MOBILE = "mobile"


@strawberry.enum
class EventStatus(Enum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


@strawberry.enum
class RegistrationStatus(Enum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


@strawberry.enum
class GameStatus(Enum):
    PLAYING = "playing"
    ENDED = "ended"
    SCORED = "scored"


# --- Relay-style pagination with keyset cursors ---------------------------------------------


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[Node]):
    cursor: str
    node: Node


@strawberry.type
class Connection(Generic[Node]):
    edges: list[Edge[Node]]
    page_info: PageInfo


def connection(rows: list, limit: int, cursor_of) -> Connection:
    """``rows`` holds up to ``limit + 1`` rows: the extra one only says there is a next page."""
    page = rows[:limit]
    edges = [Edge(cursor=cursor_of(row), node=row) for row in page]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > limit, end_cursor=edges[-1].cursor if edges else None
        ),
    )


# --- People ---------------------------------------------------------------------------------


@strawberry.type(description="Another person as the pages show them: a name, nothing private.")
class Person:
    id: strawberry.ID
    username: str


def person(user) -> Person:
    return Person(id=strawberry.ID(str(user.pk)), username=user.get_username())


# --- Events ---------------------------------------------------------------------------------


@strawberry_django.type(RegistrationModel)
class Registration:
    id: auto
    status: RegistrationStatus
    joined_at: auto

    @strawberry.field(description="1-based place on the waiting list (null when confirmed).")
    async def waitlist_position(self, info: Info) -> int | None:
        from asgiref.sync import sync_to_async

        from events.selectors import waitlist_position

        return await sync_to_async(waitlist_position)(registration=self)


@strawberry_django.type(EventModel)
class Event:
    id: auto
    title: auto
    description: auto
    location: auto
    starts_at: auto
    ends_at: auto
    capacity: auto
    status: EventStatus

    @strawberry.field
    def organizer(self) -> Person:
        return person(self.organizer)

    @strawberry.field(description="Free confirmed places (0 when full).")
    def places_left(self) -> int:
        return self.places_left

    @strawberry.field
    def confirmed_count(self) -> int:
        return self.confirmed_count

    @strawberry.field
    def waitlisted_count(self) -> int:
        return self.waitlisted_count

    @strawberry.field(description="The viewer's registration (null when never registered).")
    async def my_registration(self, info: Info) -> Registration | None:
        return await info.context.loaders.registration.load(self.pk)

    @strawberry.field(description="Whether the viewer follows this event's notifications.")
    async def following(self, info: Info) -> bool:
        return await info.context.loaders.following.load(self.pk)


# --- Notifications --------------------------------------------------------------------------


def with_event_ids(notifications: list) -> list:
    """Give each notification ``event_id``: its subject's id when the subject is an event.
    Sync code (the content type is read once per process, then cached)."""
    event_type_id = ContentType.objects.get_for_model(EventModel).pk
    for notification in notifications:
        notification.event_id = (
            notification.object_id if notification.content_type_id == event_type_id else None
        )
    return notifications


@strawberry_django.type(NotificationModel)
class Notification:
    id: auto
    kind: auto
    priority: Priority
    title: auto
    body: auto
    url: auto
    is_read: auto
    read_at: auto
    created_at: auto

    @strawberry.field
    def cursor(self) -> str:
        return cursors.notification_cursor(self.pk)

    @strawberry.field(description="The event it is about, when it is about one.")
    async def event(self, info: Info) -> Event | None:
        event_id = getattr(self, "event_id", None)
        if event_id is None:
            return None
        return await info.context.loaders.event.load(event_id)


@strawberry.type(description="A notification as it is pushed: what a toast shows.")
class NotificationPushed:
    id: strawberry.ID
    cursor: str
    kind: str
    priority: Priority
    title: str
    body: str = strawberry.field(description=f"The first {BODY_PREVIEW} characters.")
    url: str
    unread_count: int = strawberry.field(description="The viewer's unread count after it.")

    @classmethod
    def from_event(cls, event: dict) -> NotificationPushed:
        return cls(
            id=strawberry.ID(str(event["id"])),
            cursor=cursors.notification_cursor(event["id"]),
            kind=event["kind"],
            priority=Priority(event["priority"]),
            title=event["title"],
            body=event["body"],
            url=event["url"],
            unread_count=event["unread"],
        )


@strawberry.input
class NotificationFilter:
    unread: bool | None = strawberry.UNSET
    kind: str | None = strawberry.UNSET


# --- Preferences ----------------------------------------------------------------------------


@strawberry.type
class ChannelSetting:
    channel: Channel
    enabled: bool


@strawberry.type(description="One kind of notification and the channels it reaches the viewer on.")
class KindPreference:
    kind: str
    label: str
    description: str
    channels: list[ChannelSetting]


@strawberry_django.type(QuietHoursModel)
class QuietHours:
    start: time
    end: time
    time_zone: auto


@strawberry.type(description="Something the viewer follows (an event, usually).")
class TopicSubscription:
    topic: str
    label: str
    url: str
    kinds: list[str] = strawberry.field(description="Empty: every kind.")


# --- Leaderboard and games ------------------------------------------------------------------


@strawberry.type
class Standing:
    rank: int
    user_id: strawberry.ID
    username: str
    total: int
    games_played: int

    @classmethod
    def of(cls, standing: leaderboard_selectors.Standing | dict) -> Standing:
        values = standing if isinstance(standing, dict) else vars(standing)
        return cls(
            rank=values["rank"],
            user_id=strawberry.ID(str(values["user_id"])),
            username=values["username"],
            total=values["total"],
            games_played=values["games_played"],
        )


@strawberry.type
class ChapterScore:
    chapter: int
    title: str
    score: int
    comment: str

    @classmethod
    def of(cls, row: dict) -> ChapterScore:
        return cls(
            chapter=int(row.get("chapter", 0)),
            title=str(row.get("title", "")),
            score=int(row.get("score", 0)),
            comment=str(row.get("comment", "")),
        )


@strawberry.type
class GameResult:
    rank: int
    player: Person
    total_score: int
    chapters: list[ChapterScore]


@strawberry_django.type(GameModel)
class Game:
    id: auto
    title: auto
    status: GameStatus
    created_at: auto
    ended_at: auto
    scored_at: auto

    @strawberry.field
    def players(self) -> list[Person]:
        return [person(player) for player in self.players.all()]

    @strawberry.field(description="The viewer's own chapter scores (empty when not a player).")
    def chapters(self, info: Info) -> list[ChapterScore]:
        viewer_id = info.context.user.pk
        for session in self.ranked_sessions:
            if session.player_id == viewer_id:
                return [ChapterScore.of(row) for row in session.chapter_scores]
        return []

    @strawberry.field(description="Every player's result, best first (as the game's page).")
    def results(self) -> list[GameResult]:
        return [
            GameResult(
                rank=rank,
                player=person(session.player),
                total_score=session.total_score,
                chapters=[ChapterScore.of(row) for row in session.chapter_scores],
            )
            for rank, session in leaderboard_selectors.ranked(self.ranked_sessions)
        ]


@strawberry.type
class EventUpdate:
    """An event's state as pushed after each change: place, time, status, places left."""

    event_id: strawberry.ID
    title: str
    location: str
    starts_at: datetime
    ends_at: datetime
    status: EventStatus
    capacity: int
    places_left: int

    @classmethod
    def of(cls, state: dict) -> EventUpdate:
        return cls(
            event_id=strawberry.ID(str(state["id"])),
            title=state["title"],
            location=state["location"],
            starts_at=datetime.fromisoformat(state["starts_at"]),
            ends_at=datetime.fromisoformat(state["ends_at"]),
            status=EventStatus(state["status"]),
            capacity=state["capacity"],
            places_left=state["places_left"],
        )
