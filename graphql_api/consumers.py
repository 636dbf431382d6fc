"""``/graphql/`` over WebSocket: Strawberry's Channels consumer, authenticated by the session.

The socket comes through ``config.asgi``'s origin check and session middleware like the others.
A socket without a logged-in user is refused at ``connection_init`` with 4403, as the
``graphql-transport-ws`` protocol prescribes, so a client does not retry it blindly.

While a subscription about the user runs, the socket is attached to the user's live events
(``notifications.realtime.live``), like a page's socket; event and leaderboard subscriptions
join their channel-layer groups.
"""

from strawberry.channels import GraphQLWSConsumer
from strawberry.exceptions import ConnectionRejectionError

from graphql_api.context import Context
from graphql_api.listen import RESUME
from notifications.realtime import live


class GraphQLConsumer(GraphQLWSConsumer):
    user_listeners = 0

    async def get_context(self, request, response) -> Context:
        return Context(user=self.scope.get("user"), ws=request)

    async def on_ws_connect(self, context: Context):
        user = context.user
        if user is None or not user.is_authenticated:
            raise ConnectionRejectionError({"reason": "Log in to use this API."})
        return await super().on_ws_connect(context)

    async def attach_user(self, user_id: int) -> None:
        """Receive ``user_id``'s live events; counted, one call per subscription."""
        if not self.user_listeners:
            await live.attach(user_id, self)
        self.user_listeners += 1

    def detach_user(self, user_id: int) -> None:
        self.user_listeners -= 1
        if not self.user_listeners:
            live.detach(user_id, self)

    async def disconnect(self, code) -> None:
        try:
            await super().disconnect(code)
        finally:
            # The subscriptions detach as they end; this covers a socket that died under them.
            if self.user_listeners:
                self.user_listeners = 0
                live.detach(self.scope["user"].pk, self)

    def checkpoint(self) -> None:
        """Called by the live listener while it works; each subscription keeps its own place."""

    async def resume(self) -> None:
        """The live events were interrupted: each user subscription catches up."""
        await self.dispatch({"type": RESUME})
