"""Query fields. Every one needs a logged-in viewer and shows only what the pages show them."""

from __future__ import annotations

import strawberry
from asgiref.sync import sync_to_async
from django.conf import settings
from strawberry.types import Info

from events import selectors as event_selectors
from graphql_api import cursors
from graphql_api.context import viewer
from graphql_api.errors import bad_input
from graphql_api.types import (
    Channel,
    ChannelSetting,
    Connection,
    connection,
    Event,
    Game,
    KindPreference,
    Notification,
    NotificationFilter,
    QuietHours,
    Standing,
    TopicSubscription,
    with_event_ids,
)
from leaderboard import selectors as leaderboard_selectors
from leaderboard.models import Game as GameModel
from notifications import selectors as notification_selectors
from notifications.kinds import get_kind

DEFAULT_PAGE_SIZE = 20


def page_size(first: int) -> int:
    """``first`` checked against GRAPHQL_MAX_PAGE_SIZE."""
    largest = settings.GRAPHQL_MAX_PAGE_SIZE
    if not 1 <= first <= largest:
        raise bad_input(f"`first` must be between 1 and {largest}.")
    return first


def _int_id(value) -> int | None:
    """An id argument as an int; None when it cannot name a row (then it is "not found")."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**63 else None


def _notification_page(user, *, before_id, unread_only, kind, limit) -> list:
    rows = notification_selectors.notification_list(
        user=user, before_id=before_id, unread_only=unread_only, kind=kind, limit=limit + 1
    )
    return with_event_ids(rows)


@strawberry.type(description="The logged-in user.")
class Me:
    id: strawberry.ID
    username: str

    @strawberry.field(description="The badge number.")
    async def unread_count(self, info: Info) -> int:
        return await sync_to_async(notification_selectors.unread_count)(user=info.context.user)

    @strawberry.field(description="The notification center, newest first.")
    async def notifications(
        self,
        info: Info,
        first: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        filter: NotificationFilter | None = None,
    ) -> Connection[Notification]:
        limit = page_size(first)
        before_id = cursors.notification_id_of(after) if after else None
        unread_only = bool(filter and filter.unread)
        kind = filter.kind if filter and filter.kind else None
        rows = await sync_to_async(_notification_page)(
            info.context.user, before_id=before_id, unread_only=unread_only, kind=kind,
            limit=limit,
        )
        return connection(rows, limit, lambda row: cursors.notification_cursor(row.pk))


@strawberry.type(description="The top of the board and the viewer's place on it.")
class Leaderboard:
    @strawberry.field
    async def top(self, limit: int = leaderboard_selectors.TOP_SIZE) -> list[Standing]:
        rows = await sync_to_async(leaderboard_selectors.top)(limit=page_size(limit))
        return [Standing.of(row) for row in rows]

    @strawberry.field(description="The viewer's row with five above and five below.")
    async def around_me(self, info: Info) -> list[Standing]:
        rows = await sync_to_async(leaderboard_selectors.around)(user_id=info.context.user.pk)
        return [Standing.of(row) for row in rows]

    @strawberry.field(description="The viewer's rank (null before their first scored game).")
    async def my_rank(self, info: Info) -> int | None:
        return await sync_to_async(leaderboard_selectors.rank_for)(user_id=info.context.user.pk)


def _preferences(user) -> list[KindPreference]:
    matrix = notification_selectors.preference_matrix(user=user)
    return [
        KindPreference(
            kind=key,
            label=get_kind(key).label,
            description=get_kind(key).description,
            channels=[
                ChannelSetting(channel=Channel(channel), enabled=enabled)
                for channel, enabled in channels.items()
            ],
        )
        for key, channels in matrix.items()
    ]


def _subscriptions(user) -> list[TopicSubscription]:
    return [
        TopicSubscription(topic=row.topic, label=row.label, url=row.url, kinds=row.kinds)
        for row in notification_selectors.subscription_rows(user=user)
    ]


def _notification(user, notification_id: int):
    found = list(
        notification_selectors.visible_notifications(user=user).filter(pk=notification_id)
    )
    return with_event_ids(found)[0] if found else None


def _game(game_id: int):
    try:
        return leaderboard_selectors.game_with_results(game_id=game_id)
    except GameModel.DoesNotExist:
        return None


@strawberry.type
class Query:
    @strawberry.field
    def me(self, info: Info) -> Me:
        user = viewer(info)
        return Me(id=strawberry.ID(str(user.pk)), username=user.get_username())

    @strawberry.field(description="One of the viewer's notifications (null for any other id).")
    async def notification(self, info: Info, id: strawberry.ID) -> Notification | None:
        user = viewer(info)
        notification_id = _int_id(id)
        if notification_id is None:
            return None
        return await sync_to_async(_notification)(user, notification_id)

    @strawberry.field(description="Every kind × channel, the defaults where nothing was chosen.")
    async def preferences(self, info: Info) -> list[KindPreference]:
        return await sync_to_async(_preferences)(viewer(info))

    @strawberry.field
    async def quiet_hours(self, info: Info) -> QuietHours | None:
        return await sync_to_async(notification_selectors.quiet_hours_of)(user=viewer(info))

    @strawberry.field(description="What the viewer follows.")
    async def subscriptions(self, info: Info) -> list[TopicSubscription]:
        return await sync_to_async(_subscriptions)(viewer(info))

    @strawberry.field(description="Upcoming events soonest first, or past ones latest first.")
    async def events(
        self,
        info: Info,
        upcoming: bool = True,
        first: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
    ) -> Connection[Event]:
        viewer(info)
        limit = page_size(first)
        key = cursors.event_key_of(after) if after else None
        rows = await sync_to_async(event_selectors.event_page)(
            upcoming=upcoming, after=key, limit=limit + 1
        )
        return connection(rows, limit, lambda row: cursors.event_cursor(row.starts_at, row.pk))

    @strawberry.field(description="One event (null when there is none with this id).")
    async def event(self, info: Info, id: strawberry.ID) -> Event | None:
        viewer(info)
        event_id = _int_id(id)
        if event_id is None:
            return None
        return await info.context.loaders.event.load(event_id)

    @strawberry.field
    def leaderboard(self, info: Info) -> Leaderboard:
        viewer(info)
        return Leaderboard()

    @strawberry.field(description="One game with its results (null when there is none).")
    async def game(self, info: Info, id: strawberry.ID) -> Game | None:
        viewer(info)
        game_id = _int_id(id)
        if game_id is None:
            return None
        return await sync_to_async(_game)(game_id)


