"""``/graphql/`` over HTTP: the session for people, an API key for services.

A request that carries an API key (``X-Api-Key`` or ``Authorization: Bearer``) is a service:
no session, so no CSRF check. Any other POST is a page's or an app's, authenticated by the
session cookie and checked for CSRF like every form. Whatever goes wrong before execution
(bad JSON, a body over DATA_UPLOAD_MAX_MEMORY_SIZE, a missing CSRF token) is answered as a
GraphQL error document, never a 500 page.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from strawberry.django.views import AsyncGraphQLView
from cross_web.exceptions import HTTPException

from graphql_api.context import Context
from graphql_api.schema import schema


def api_key_of(request) -> str | None:
    key = request.headers.get("X-Api-Key")
    if key:
        return key
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def error_response(status: int, message: str, code: str) -> JsonResponse:
    return JsonResponse({"errors": [{"message": message, "extensions": {"code": code}}]},
                        status=status)


def _csrf_refusal(request):
    """None when the request passes Django's CSRF check, else the reason."""
    return CsrfViewMiddleware(lambda request: None).process_view(request, None, (), {})


class GraphQLView(AsyncGraphQLView):
    async def get_context(self, request, response) -> Context:
        api_key = api_key_of(request)
        user = AnonymousUser() if api_key else await request.auser()
        return Context(user=user, request=request, response=response, api_key_header=api_key)

    async def dispatch(self, request, *args, **kwargs):
        # The in-browser IDE only in debug; production answers a browser's GET with 404.
        self.graphql_ide = "graphiql" if settings.DEBUG else None
        if request.method == "POST" and api_key_of(request) is None:
            if _csrf_refusal(request) is not None:
                return error_response(
                    403,
                    "CSRF check failed: send the csrftoken cookie's value as X-CSRFToken.",
                    "FORBIDDEN",
                )
        try:
            return await self.run(request=request)
        except HTTPException as error:
            return error_response(error.status_code, error.reason, "BAD_REQUEST")
        except RequestDataTooBig:
            return error_response(413, "The request is too large.", "TOO_LARGE")


graphql_view = csrf_exempt(GraphQLView.as_view(schema=schema))
