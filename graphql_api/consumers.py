"""``/graphql/`` over WebSocket: Strawberry's Channels consumer, authenticated by the session.

The socket comes through ``config.asgi``'s origin check and session middleware like the others.
A socket without a logged-in user is refused at ``connection_init`` with 4403, as the
``graphql-transport-ws`` protocol prescribes, so a client does not retry it blindly.
"""

from strawberry.channels import GraphQLWSConsumer
from strawberry.exceptions import ConnectionRejectionError

from graphql_api.context import Context


class GraphQLConsumer(GraphQLWSConsumer):
    async def get_context(self, request, response) -> Context:
        return Context(user=self.scope.get("user"), ws=request)

    async def on_ws_connect(self, context: Context):
        user = context.user
        if user is None or not user.is_authenticated:
            raise ConnectionRejectionError({"reason": "Log in to use this API."})
        return await super().on_ws_connect(context)
