import logging
import sys

from django.conf import settings
from django.contrib.auth import login
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views import defaults
from django.views.decorators.http import require_GET, require_http_methods
from django_ratelimit.decorators import ratelimit

from config.client_address import remote_addr

from notifications.account.forms import SignupForm
from notifications.account.services import email_verification_send


def _signup_rate(group, request) -> str:
    return settings.SIGNUP_RATE_LIMIT


logger = logging.getLogger(__name__)

# Rendered without the database (no session, no user, no context processors).
DATABASE_UNAVAILABLE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Herald is briefly unavailable</title>
<meta http-equiv="refresh" content="10"></head>
<body><h1>Herald is briefly unavailable</h1>
<p>The database cannot be reached right now. This page retries by itself in a few seconds;
nothing you sent before this page is lost.</p></body></html>
"""


@require_http_methods(["GET", "POST"])
@ratelimit(key=remote_addr, rate=_signup_rate, method="POST", block=False)
def signup(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None)
    if getattr(request, "limited", False):
        form.add_error(None, "Too many signups from this address; try again later.")
        return render(request, "registration/signup.html", {"form": form}, status=429)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        email_verification_send(user=user)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("home")
    status = 400 if request.method == "POST" else 200
    return render(request, "registration/signup.html", {"form": form}, status=status)


def server_error(request):
    """``handler500``: an unreachable database (restart, failover) answers 503 with
    ``Retry-After`` — the request may be repeated — instead of a 500; anything else is Django's
    500."""
    exc = sys.exc_info()[1]
    if isinstance(exc, (OperationalError, InterfaceError)):
        logger.warning("Database unavailable, answered 503: %s", exc)
        response = HttpResponse(DATABASE_UNAVAILABLE, status=503)
        response["Retry-After"] = "5"
        return response
    return defaults.server_error(request)


@require_GET
def web_manifest(request):
    """The web app manifest: the site installs to a phone's home screen (iOS needs that before
    it allows web push) and opens as its own window."""
    manifest = {
        "name": "Herald",
        "short_name": "Herald",
        "description": "Events, ranked games and every notification that matters to you.",
        "id": "/",
        "start_url": "/notifications/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#f6f7fb",
        "theme_color": "#3b4cca",
        "icons": [
            {"src": static("icons/icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": static("icons/icon-512.png"), "sizes": "512x512", "type": "image/png"},
            {"src": static("icons/icon-maskable-512.png"), "sizes": "512x512",
             "type": "image/png", "purpose": "maskable"},
        ],
    }
    response = JsonResponse(manifest, content_type="application/manifest+json")
    response["Cache-Control"] = "max-age=3600"
    return response
