"""WebSocket routes of every app, in one list for the ASGI router."""

from events.routing import websocket_urlpatterns as events_ws
from graphql_api.routing import websocket_urlpatterns as graphql_ws
from leaderboard.routing import websocket_urlpatterns as leaderboard_ws
from notifications.realtime.routing import websocket_urlpatterns as notifications_ws

websocket_urlpatterns = [*notifications_ws, *events_ws, *leaderboard_ws, *graphql_ws]
