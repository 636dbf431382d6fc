from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from leaderboard import live
from notifications.consumers import refused_anonymous


class LeaderboardConsumer(AsyncWebsocketConsumer):
    """An open leaderboard page: receives the board's fragments, which HTMX swaps by id."""

    async def connect(self):
        if await refused_anonymous(self):
            return
        self.user_id = self.scope["user"].pk
        self.joined = True
        await self.channel_layer.group_add(live.GROUP, self.channel_name)
        await self.accept()
        # A page that (re)connects may have missed broadcasts while its socket was down.
        await self.send(text_data=await database_sync_to_async(self._board)(top=None))

    async def disconnect(self, code):
        if getattr(self, "joined", False):
            await self.channel_layer.group_discard(live.GROUP, self.channel_name)

    async def leaderboard_changed(self, event):
        await self.send(text_data=await database_sync_to_async(self._board)(top=event["top"]))

    def _board(self, *, top: str | None) -> str:
        """Both fragments; the top is rendered once per broadcast, "around me" per socket."""
        return (top if top is not None else live.render_top()) + live.render_around(
            user_id=self.user_id
        )
