from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from config.sockets import page_csrf_token
from config.socket_guard import GuardedSocketMixin
from leaderboard import live
from notifications.realtime.consumers import refused_anonymous


class LeaderboardConsumer(GuardedSocketMixin, AsyncWebsocketConsumer):
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


CLOSE_NO_SUCH_GAME = 4404


class GameConsumer(GuardedSocketMixin, AsyncWebsocketConsumer):
    """An open game page (``/ws/games/<id>/``): the game's live part, rendered for this viewer
    (whose turn, the chapter form, the end button, "scoring…", the scores), on every
    (re)connect and whenever the game changes."""

    async def connect(self):
        if await refused_anonymous(self):
            return
        self.user = self.scope["user"]
        self.game_id = self.scope["url_route"]["kwargs"]["game_id"]
        # Joined before the first render, so a change in between is not missed.
        self.group_name = live.game_group(self.game_id)
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()
        html = await self._render()
        if not html:
            await self.close(code=CLOSE_NO_SUCH_GAME)
            return
        await self.send(text_data=html)

    async def disconnect(self, code):
        group_name = getattr(self, "group_name", None)
        if group_name:
            await self.channel_layer.group_discard(group_name, self.channel_name)

    async def game_changed(self, event):
        html = await self._render()
        if html:
            await self.send(text_data=html)

    async def _render(self) -> str:
        return await database_sync_to_async(live.render_game)(
            game_id=self.game_id, user=self.user, csrf_token=page_csrf_token(self.scope)
        )
