"""Who may read the operations endpoints: staff with a session, or a monitor with the token."""

from __future__ import annotations

import hmac
from functools import wraps

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.conf import settings
from django.http import JsonResponse


def _bearer_token(request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def has_monitor_access(request) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    expected = settings.METRICS_TOKEN
    given = _bearer_token(request)
    return bool(expected and given) and hmac.compare_digest(given.encode(), expected.encode())


def monitor_required(view):
    """401 for an anonymous caller without the token, 403 for a logged-in non-staff user."""

    def refuse(request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return JsonResponse({"detail": "Staff only."}, status=403)
        response = JsonResponse(
            {"detail": "Log in as staff or send 'Authorization: Bearer <METRICS_TOKEN>'."},
            status=401,
        )
        response["WWW-Authenticate"] = 'Bearer realm="herald-metrics"'
        return response

    if iscoroutinefunction(view):

        @wraps(view)
        async def async_wrapped(request, *args, **kwargs):
            # The session user loads lazily from the database: not on the event loop.
            if not await sync_to_async(has_monitor_access)(request):
                return refuse(request)
            return await view(request, *args, **kwargs)

        return async_wrapped

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not has_monitor_access(request):
            return refuse(request)
        return view(request, *args, **kwargs)

    return wrapped
