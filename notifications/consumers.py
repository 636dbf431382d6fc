from channels.generic.websocket import AsyncJsonWebsocketConsumer

from notifications.groups import user_group

# Close codes in the 4000-4999 range are ours: 4401 = not logged in (the page does not retry).
CLOSE_UNAUTHENTICATED = 4401


class NotificationConsumer(AsyncJsonWebsocketConsumer):
    """One socket per open page of a logged-in user, joined to the group ``user.<id>``."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Accept first: a close before accept is an HTTP 403 and the browser never sees the code.
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.group_name = user_group(user.pk)
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        group_name = getattr(self, "group_name", None)
        if group_name:
            await self.channel_layer.group_discard(group_name, self.channel_name)

    async def notification_created(self, event):
        await self.send_json(
            {"type": "notification.created", "id": event["id"], "unread": event["unread"]}
        )
