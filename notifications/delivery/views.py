"""Web push subscriptions (called by the page's script) and one-click email unsubscribe."""

from __future__ import annotations

import json
import re
from functools import wraps

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from notifications.delivery import clicks, services, unsubscribe
from notifications.delivery.endpoints import EndpointRefused
from notifications.models import Channel

_https_url = URLValidator(schemes=["https"])
_base64url = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")


def _json_error(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


def _read_subscription(request) -> tuple[dict | None, str]:
    """The PushSubscription.toJSON() the browser sent, or an error message."""
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return None, "The body must be JSON."
    if not isinstance(data, dict):
        return None, "The body must be a JSON object."
    endpoint = data.get("endpoint")
    if not isinstance(endpoint, str) or len(endpoint) > 2000:
        return None, "`endpoint` must be the push service URL."
    try:
        _https_url(endpoint)
    except ValidationError:
        return None, "`endpoint` must be an https URL."
    return data, ""


def _login_required_json(view):
    """Like ``login_required``, but a script gets a JSON 401 instead of a redirect."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return _json_error(401, "Log in first.")
        return view(request, *args, **kwargs)

    return wrapped


@require_POST
@_login_required_json
def push_subscribe(request):
    """Body: ``PushSubscription.toJSON()`` (``endpoint`` + ``keys.p256dh`` + ``keys.auth``)."""
    data, error = _read_subscription(request)
    if data is None:
        return _json_error(400, error)
    keys = data.get("keys") if isinstance(data.get("keys"), dict) else {}
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    for name, value, limit in (("p256dh", p256dh, 200), ("auth", auth, 100)):
        if not isinstance(value, str) or not value or len(value) > limit or not _base64url.match(value):
            return _json_error(400, f"`keys.{name}` must be the base64url key from the browser.")
    try:
        subscription = services.push_subscription_save(
            user=request.user,
            endpoint=data["endpoint"],
            p256dh=p256dh,
            auth=auth,
            user_agent=request.headers.get("User-Agent", ""),
        )
    except EndpointRefused as exc:
        return _json_error(400, f"`endpoint` refused: {exc}.")
    except services.PushSubscriptionTaken:
        return _json_error(409, "This push subscription belongs to another account.")
    return JsonResponse({"id": subscription.pk}, status=201)


@require_POST
@_login_required_json
def push_unsubscribe(request):
    """Body: ``{"endpoint": ...}``. Only the owner's subscription is removed."""
    data, error = _read_subscription(request)
    if data is None:
        return _json_error(400, error)
    if not services.push_subscription_delete(user=request.user, endpoint=data["endpoint"]):
        return _json_error(404, "No such subscription.")
    return HttpResponse(status=204)


# The signed token is the credential: mail providers POST here without cookies (RFC 8058), so
# there is no session and no CSRF token to check, and the only effect is switching one email off.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def email_unsubscribe(request, token: str):
    """GET asks for confirmation (link scanners must not unsubscribe anyone); POST, from the page
    or from the mail provider's one-click button, turns that kind's email off."""
    target = unsubscribe.target_of(token)
    if target is None:
        raise Http404("This unsubscribe link is not valid.")
    user, kind = target
    done = request.method == "POST"
    if done:
        services.email_unsubscribe(user=user, kind=kind.key)
    return render(
        request,
        "notifications/email_unsubscribe.html",
        {"kind": kind, "email": user.email, "done": done},
    )


@require_GET
def email_click(request, token: str):
    """The link in an email: record the click on the email delivery, then go to the
    notification's page. No login: the signed token is the credential, and the page asks for one."""
    notification_id = clicks.target_of(token, channel=Channel.EMAIL)
    if notification_id is None:
        raise Http404("This link is not valid.")
    return redirect(services.delivery_record_click(notification_id=notification_id,
                                                   channel=Channel.EMAIL))


# The service worker reports the click with a plain POST and no CSRF token: the signed token is
# the credential and the only effect is a timestamp on one row.
@csrf_exempt
@require_POST
def push_clicked(request, token: str):
    notification_id = clicks.target_of(token, channel=Channel.PUSH)
    if notification_id is None:
        return _json_error(404, "This click token is not valid.")
    services.delivery_record_click(notification_id=notification_id, channel=Channel.PUSH)
    return HttpResponse(status=204)
