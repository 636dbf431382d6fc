from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from config.sockets import page_csrf_token
from config.socket_guard import GuardedSocketMixin
from events import live
from notifications.realtime.consumers import refused_anonymous

CLOSE_NO_SUCH_EVENT = 4404


class EventsConsumer(GuardedSocketMixin, AsyncWebsocketConsumer):
    """An open events list (``/ws/events/``) or event page (``/ws/events/<id>/``).

    The list relays each changed row as rendered once for everyone. An event page renders its
    own facts and action panel per socket, since the panel depends on the viewer; it is sent
    on every (re)connect too, so a page whose socket was down catches up.
    """

    async def connect(self):
        if await refused_anonymous(self):
            return
        self.user = self.scope["user"]
        self.event_id = self.scope["url_route"]["kwargs"].get("event_id")
        # Joined before the first render, so a change in between is not missed.
        self.group_name = (
            live.LIST_GROUP if self.event_id is None else live.event_group(self.event_id)
        )
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()
        if self.event_id is not None and not await self._send_page():
            await self.close(code=CLOSE_NO_SUCH_EVENT)

    async def disconnect(self, code):
        group_name = getattr(self, "group_name", None)
        if group_name:
            await self.channel_layer.group_discard(group_name, self.channel_name)

    async def event_changed(self, event):
        if self.event_id is None:
            await self.send(text_data=event["row"])
        else:
            await self._send_page()

    async def _send_page(self) -> bool:
        """Send this viewer's parts of the page; False when the event does not exist."""
        html = await database_sync_to_async(live.render_page_parts)(
            user=self.user,
            event_id=self.event_id,
            csrf_token=page_csrf_token(self.scope),
        )
        if html:
            await self.send(text_data=html)
        return bool(html)
