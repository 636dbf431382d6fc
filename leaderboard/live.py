"""The live leaderboard: a Channels group that hears about changes at most about once a second.

A burst of submits sets one flag in the cache and schedules one delayed broadcast; submits
while the flag lives ride along, since the broadcast renders the board as it is when it runs.
The top of the board is rendered once per broadcast; each socket adds its own "around me".
"""

from dataclasses import asdict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.template.loader import render_to_string

from leaderboard import selectors

GROUP = "leaderboard"
BROADCAST_PENDING_KEY = "leaderboard:broadcast-pending"
BOARD_TEMPLATE = "leaderboard/board.html"


def broadcast_interval() -> int:
    return max(1, int(getattr(settings, "LEADERBOARD_BROADCAST_INTERVAL", 1)))


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
    from leaderboard.tasks import leaderboard_broadcast

    leaderboard_broadcast.apply_async(countdown=broadcast_interval(), queue="urgent")


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
