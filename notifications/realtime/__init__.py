"""Real time: new notifications and badge counts to the pages a user has open, over WebSocket.

The pipeline's after-commit work calls ``push``; a web process's sockets hear it through ``live``.
What other code uses:

- ``push.push_notifications(ids)``, ``push.push_badges(user_ids)``: the toast and the badge to
  the recipients' open pages (``notifications.services``, ``notifications.tasks``);
  ``push.created_event`` and ``push.BODY_PREVIEW`` shape the event (the GraphQL API too).
- ``live.publish`` / ``live.publish_async``: per-user events, one channel-layer message per
  fan-out to every web process (``push``, ``config.socket_guard``); ``live.attach`` /
  ``live.detach``: a socket hears its user's events (``consumers``, the GraphQL consumer).
- ``consumers.NotificationConsumer`` at ``/ws/notifications/`` (``routing.websocket_urlpatterns``,
  mounted by ``config.routing``); ``consumers.refused_anonymous`` and the ``CLOSE_*`` codes for
  the other apps' consumers.

Importing this package imports none of its modules.
"""
