"""What every resolver gets as ``info.context``: the viewer, the request or socket, loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AnonymousUser
from strawberry.types import Info

from graphql_api import loaders
from graphql_api.errors import unauthenticated


@dataclass
class Context:
    user: Any = field(default_factory=AnonymousUser)
    request: Any = None
    response: Any = None
    ws: Any = None  # the GraphQL socket's consumer, for subscriptions
    api_key_header: str | None = None  # the raw key of a service (HTTP only)
    loaders: loaders.Loaders = None  # type: ignore[assignment]

    def __post_init__(self):
        if self.loaders is None:
            self.loaders = loaders.Loaders(self.user)


def viewer(info: Info):
    """The logged-in user, or a GraphQL error for an anonymous request."""
    user = info.context.user
    if user is None or not user.is_authenticated:
        raise unauthenticated()
    return user
