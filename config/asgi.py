"""ASGI entry point: HTTP goes to Django, WebSockets to Channels consumers.

WebSockets must come from an allowed host (origin check) and carry the Django session, read by
``config.websocket_auth`` on a thread pool so a burst of handshakes does not queue on one thread.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.body_limit import RequestBodyLimitMiddleware  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402
from config.socket_guard import LoggingOriginValidator  # noqa: E402
from config.websocket_auth import WebsocketAuthStack  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": RequestBodyLimitMiddleware(django_asgi_app),
        "websocket": LoggingOriginValidator(
            WebsocketAuthStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
