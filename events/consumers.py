from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from events import live
from events.models import Event
from notifications.consumers import refused_anonymous

CLOSE_NO_SUCH_EVENT = 4404


class EventsConsumer(AsyncWebsocketConsumer):
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
        if self.event_id is not None and not await self._exists():
            await self.accept()
            await self.close(code=CLOSE_NO_SUCH_EVENT)
            return
        self.group_name = (
            live.LIST_GROUP if self.event_id is None else live.event_group(self.event_id)
        )
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()
        if self.event_id is not None:
            await self._send_page()

    async def disconnect(self, code):
        group_name = getattr(self, "group_name", None)
        if group_name:
            await self.channel_layer.group_discard(group_name, self.channel_name)

    async def event_changed(self, event):
        if self.event_id is None:
            await self.send(text_data=event["row"])
        else:
            await self._send_page()

    async def _send_page(self):
        html = await database_sync_to_async(live.render_page_parts)(
            user=self.user,
            event_id=self.event_id,
            # Forms in the fragment also work as plain POSTs: the page's own CSRF cookie.
            csrf_token=self.scope.get("cookies", {}).get(settings.CSRF_COOKIE_NAME, ""),
        )
        if html:
            await self.send(text_data=html)

    @database_sync_to_async
    def _exists(self) -> bool:
        return Event.objects.filter(pk=self.event_id).exists()
