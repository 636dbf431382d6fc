"""The HTTP API for other services, mounted at ``/api/v1/`` (OpenAPI at ``/api/v1/docs``).

Key-authenticated (``X-Api-Key`` or ``Authorization: Bearer``), no session, so no CSRF.
"""

from __future__ import annotations

import json

from functools import wraps

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from ninja import Header, NinjaAPI
from ninja.errors import AuthenticationError, ValidationError
from ninja.security import APIKeyHeader, HttpBearer

from notifications.api import devices, selectors, services
from notifications.api.schemas import (
    Error,
    NotificationBulkCreated,
    NotificationBulkIn,
    NotificationCreated,
    NotificationIn,
)

IDEMPOTENCY_KEY_MAX_LENGTH = 150


class ApiKeyRevoked(Exception):
    pass


class RateLimited(Exception):
    def __init__(self, retry_after: int):
        super().__init__(retry_after)
        self.retry_after = retry_after


def authenticate_api_key(raw_key: str | None, request: HttpRequest | None = None):
    """The active ApiKey for ``raw_key`` (None when unknown), counted against its rate limit.

    With the ``request``, unknown keys are counted per client address, and an address past
    ``API_INVALID_KEY_RATE_LIMIT`` is refused whatever key it sends. One query for the key and
    its scopes, one Redis round trip for both limits (``services.api_request_throttle``).
    Raises ApiKeyRevoked or RateLimited; shared by the HTTP API and the GraphQL API."""
    if not raw_key:
        return None
    api_key = selectors.api_key_for(raw_key=raw_key)
    retry_after = services.api_request_throttle(api_key=api_key, request=request)
    if retry_after:
        raise RateLimited(retry_after)
    if api_key is None:
        return None
    if not api_key.is_active:
        raise ApiKeyRevoked
    services.api_key_touch(api_key=api_key)
    return api_key


class ApiKeyHeader(APIKeyHeader):
    param_name = "X-Api-Key"

    def authenticate(self, request: HttpRequest, key: str | None):
        return authenticate_api_key(key, request)


class ApiKeyBearer(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        return authenticate_api_key(token, request)


def _docs_visible(view):
    """The docs and the OpenAPI document: public when ``API_DOCS_PUBLIC`` (development), else for
    staff only (a map of the API is reconnaissance for anyone else)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        user = getattr(request, "user", None)
        if settings.API_DOCS_PUBLIC or (user is not None and user.is_active and user.is_staff):
            return view(request, *args, **kwargs)
        return JsonResponse({"detail": "Not found"}, status=404)

    return wrapped


api = NinjaAPI(
    title="Herald API",
    version="1",
    description="Send notifications to Herald users from other services.",
    urls_namespace="api-v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
    docs_decorator=_docs_visible,
    auth=[ApiKeyHeader(), ApiKeyBearer()],
)


def _error(request, status: int, detail: str, **extra):
    return api.create_response(request, {"detail": detail, **extra}, status=status)


@api.exception_handler(ValidationError)
def bad_body(request, exc: ValidationError):
    errors = [
        {key: value for key, value in error.items() if key in ("loc", "msg", "type")}
        for error in exc.errors
    ]
    first = errors[0] if errors else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    detail = f"Invalid request: {where}: {first.get('msg')}" if first else "Invalid request"
    return _error(request, 400, detail, errors=errors)


@api.exception_handler(AuthenticationError)
def missing_or_bad_key(request, exc):
    if request.path.startswith(DEVICES_PREFIX):
        return _error(request, 401, "Log in, or send this device's X-Device-Secret")
    response = _error(request, 401, "Missing or invalid API key")
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(ApiKeyRevoked)
def revoked_key(request, exc):
    return _error(request, 403, "This API key has been revoked")


@api.exception_handler(RateLimited)
def over_rate_limit(request, exc: RateLimited):
    response = _error(request, 429, f"Rate limit exceeded; retry in {exc.retry_after} s")
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(services.IdempotencyConflict)
def idempotency_conflict(request, exc):
    return _error(
        request, 409, "This Idempotency-Key was already used with a different request body"
    )


def _idempotency_key_header():
    return Header(
        ...,
        alias="Idempotency-Key",
        max_length=IDEMPOTENCY_KEY_MAX_LENGTH,
        description="Unique per logical request: a retry with the same key and body is answered "
        "with the first result and creates nothing new.",
    )


def _sent(request, send, **arguments):
    """The response for ``send(api_key=…, body=…, **arguments)``: the answer, or its 400/403."""
    try:
        result = send(api_key=request.auth, body=json.loads(request.body), **arguments)
    except services.ScopeRefused as refused:
        return _error(request, 403, str(refused))
    except services.UnknownSubject as unknown:
        return _error(request, 400, str(unknown))
    response = api.create_response(request, result.body, status=result.status_code)
    if result.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


ANSWERS = {400: Error, 401: Error, 403: Error, 409: Error, 429: Error}


@api.post(
    "/notifications",
    response={201: NotificationCreated, **ANSWERS},
    summary="Notify users",
    operation_id="notifications_create",
)
def create_notification(
    request, payload: NotificationIn, idempotency_key: str = _idempotency_key_header()
):
    """Create one notification per recipient (see the kinds catalogue) and deliver it on every
    channel the recipient has on. Retrying with the same `Idempotency-Key` is safe."""
    return _sent(
        request, services.api_notification_send,
        idempotency_key=idempotency_key, payload=payload,
    )


@api.post(
    "/notifications/bulk",
    response={201: NotificationBulkCreated, **ANSWERS},
    summary="Notify users: many notifications at once",
    operation_id="notifications_create_bulk",
)
def create_notifications_bulk(
    request, payload: NotificationBulkIn, idempotency_key: str = _idempotency_key_header()
):
    """Up to 1,000 notifications, each as `POST /notifications` takes it, in
    one request under one `Idempotency-Key`: all are stored or none (a refused or invalid one
    fails the request, naming its place, e.g. `notifications[3]`). A notification without a
    `dedupe_key` is deduplicated by the `Idempotency-Key` and its place in the list."""
    return _sent(
        request, services.api_notifications_send_many,
        idempotency_key=idempotency_key, payloads=payload.notifications,
    )


# The phone app's device registration (session or device secret, not API keys).
DEVICES_PREFIX = "/api/v1/devices"
api.add_router("/devices", devices.router)
