from django.urls import path

from events.consumers import EventsConsumer

websocket_urlpatterns = [
    path("ws/events/", EventsConsumer.as_asgi()),
    path("ws/events/<int:event_id>/", EventsConsumer.as_asgi()),
]
