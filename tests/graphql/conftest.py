"""GraphQL over the real HTTP endpoint (``/graphql/``) with a logged-in session."""

import json

import pytest
from django.db import transaction
from django.test import Client

from notifications.kinds import EVENT_UPDATED
from notifications.services import notify
from tests.pipeline.conftest import alice, bob  # noqa: F401 (fixtures)


class GraphQLClient:
    """POSTs operations to /graphql/ as the browser or an app would (JSON, session cookie)."""

    def __init__(self, client: Client):
        self.client = client

    def post(self, query: str, variables: dict | None = None, **headers):
        body = {"query": query}
        if variables is not None:
            body["variables"] = variables
        return self.client.post(
            "/graphql/", json.dumps(body), content_type="application/json", headers=headers
        )

    def __call__(self, query: str, variables: dict | None = None, **headers) -> dict:
        """The response document; the request must be answered 200."""
        response = self.post(query, variables, **headers)
        assert response.status_code == 200, response.content
        return response.json()

    def data(self, query: str, variables: dict | None = None) -> dict:
        """The ``data`` of an operation that must not fail."""
        document = self(query, variables)
        assert "errors" not in document, document["errors"]
        return document["data"]


def error_codes(document: dict) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in document.get("errors", [])]


def logged_in(user) -> GraphQLClient:
    client = Client()
    client.force_login(user)
    return GraphQLClient(client)


@pytest.fixture
def gql(alice) -> GraphQLClient:
    """Alice's session."""
    return logged_in(alice)


@pytest.fixture
def anonymous_gql() -> GraphQLClient:
    return GraphQLClient(Client())


def notify_user(user, key: str, *, subject=None, kind: str = EVENT_UPDATED) -> int:
    """One committed notification for ``user``; its id."""
    with transaction.atomic():
        result = notify(kind=kind, recipients=[user], subject=subject,
                        context={"event_title": key}, dedupe_key=key, url="/events/1/")
    return result.notification_ids[0]
