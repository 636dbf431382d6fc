from django.urls import path
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from graphql_api.consumers import GraphQLConsumer
from graphql_api.schema import schema

websocket_urlpatterns = [
    # Only graphql-transport-ws: the older graphql-ws protocol is unmaintained.
    path(
        "graphql/",
        GraphQLConsumer.as_asgi(
            schema=schema, subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,)
        ),
    ),
]
