"""The live leaderboard: a Channels group that hears about changes at most about once a second;
and each game's page, whose group hears when the game changes (a seat, a chapter, its end, its
scores).

A burst of submits sets one flag in the cache and schedules one delayed broadcast; submits
while the flag lives ride along, since the broadcast renders the board as it is when it runs.
The top of the board is rendered once per broadcast; each socket adds its own "around me".
"""

from dataclasses import asdict
from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.template.loader import render_to_string

from config.celery import enqueue
from leaderboard import selectors
from leaderboard.models import Game

GROUP = "leaderboard"
BROADCAST_PENDING_KEY = "leaderboard:broadcast-pending"
BOARD_TEMPLATE = "leaderboard/board.html"


def broadcast_interval() -> int:
    return max(1, settings.LEADERBOARD_BROADCAST_INTERVAL)


def broadcast_schedule() -> bool:
    """Schedule one broadcast unless one is already pending (answers whether it scheduled)."""
    if not cache.add(BROADCAST_PENDING_KEY, 1, timeout=broadcast_interval()):
        return False
    broadcast_queue()
    return True


def broadcast_queue() -> None:
    """Queue the delayed broadcast; for the caller that just set ``BROADCAST_PENDING_KEY``
    (``broadcast_schedule``, or a submit that set it in the same script as its sorted-set write).
    """
    enqueue(
        "leaderboard.tasks.leaderboard_broadcast", countdown=broadcast_interval()
    )


def broadcast() -> None:
    """Tell every open leaderboard page to refresh, with the top of the board rendered (``top``)
    and as data (``standings``, for API subscribers)."""
    async_to_sync(get_channel_layer().group_send)(
        GROUP,
        {
            "type": "leaderboard.changed",
            "top": render_top(),
            "standings": [asdict(standing) for standing in selectors.top()],
        },
    )


def board_context(*, user_id: int) -> dict:
    return {
        "top": selectors.top(),
        "around": selectors.around(user_id=user_id),
        "me_id": user_id,
    }


def render_top() -> str:
    return render_to_string(f"{BOARD_TEMPLATE}#leaderboard-top", {"top": selectors.top()})


def render_around(*, user_id: int) -> str:
    return render_to_string(
        f"{BOARD_TEMPLATE}#leaderboard-around",
        {"around": selectors.around(user_id=user_id), "me_id": user_id},
    )


# --- One game's page ------------------------------------------------------------------------------

GAME_TEMPLATE = "leaderboard/game.html"


def game_group(game_id: int) -> str:
    return f"game.{game_id}"


def game_changed_on_commit(*, game_id: int) -> None:
    """After commit, tell the game's open pages to show it as it is now (queue ``urgent``)."""
    transaction.on_commit(
        partial(enqueue, "leaderboard.tasks.game_broadcast", [game_id])
    )


def game_broadcast(*, game_id: int) -> None:
    async_to_sync(get_channel_layer().group_send)(
        game_group(game_id), {"type": "game.changed", "game_id": game_id}
    )


def render_game(*, game_id: int, user, csrf_token: str = "") -> str:
    """The game's live part for one viewer, swapped by id (its forms carry the page's token).
    Empty when the game is gone."""
    try:
        view = selectors.game_view(game_id=game_id, user=user)
    except Game.DoesNotExist:
        return ""
    return render_to_string(
        f"{GAME_TEMPLATE}#game-live",
        {"view": view, "game": view.game, "user": user, "csrf_token": csrf_token, "live": True},
    )
