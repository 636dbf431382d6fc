"""Limits and malformed input: always a GraphQL error document, never a 500."""

import json

import pytest
from django.test import Client

from tests.graphql.conftest import error_codes

pytestmark = pytest.mark.django_db

INTROSPECTION = "{ __schema { queryType { name } } }"


def test_a_page_larger_than_the_maximum_is_refused(gql, settings):
    settings.GRAPHQL_MAX_PAGE_SIZE = 30
    document = gql("{ me { notifications(first: 31) { edges { cursor } } } }")
    assert error_codes(document) == ["INVALID"]
    assert "between 1 and 30" in document["errors"][0]["message"]
    assert error_codes(gql("{ events(first: 0) { edges { cursor } } }")) == ["INVALID"]


def test_a_query_deeper_than_the_limit_is_refused(gql, settings):
    settings.GRAPHQL_MAX_DEPTH = 4
    deep = "{ me { notifications { edges { node { event { organizer { username } } } } } } }"
    document = gql(deep)
    assert "exceeds maximum operation depth" in document["errors"][0]["message"]
    assert "data" not in document or document["data"] is None
    assert "errors" not in gql("{ me { notifications { edges { cursor } } } }")


def test_a_query_costlier_than_the_limit_is_refused_fragments_included(gql, settings):
    settings.GRAPHQL_MAX_COST = 500
    query = """
      fragment Row on Notification { id title event { id title location } }
      { me { notifications(first: 100) { edges { node { ...Row } } } } }
    """
    document = gql(query)
    assert error_codes(document) == ["COST_LIMIT"]
    cheap = query.replace("first: 100", "first: 10")
    assert "errors" not in gql(cheap)


def test_too_many_tokens_are_refused(gql, settings):
    settings.GRAPHQL_MAX_TOKENS = 50
    fields = " ".join(f"a{n}: username" for n in range(60))
    document = gql(f"{{ me {{ {fields} }} }}")
    assert "tokens" in document["errors"][0]["message"]


def test_introspection_follows_the_setting(gql, settings):
    settings.GRAPHQL_INTROSPECTION = False
    document = gql(INTROSPECTION)
    assert "introspection" in document["errors"][0]["message"].lower()
    settings.GRAPHQL_INTROSPECTION = True
    assert gql.data(INTROSPECTION) == {"__schema": {"queryType": {"name": "Query"}}}


def test_graphiql_only_in_debug(settings, gql):
    settings.DEBUG = False
    response = gql.client.get("/graphql/", headers={"Accept": "text/html"})
    assert response.status_code == 404
    settings.DEBUG = True
    response = gql.client.get("/graphql/", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert b"graphiql" in response.content.lower()


@pytest.mark.parametrize(
    "body, status",
    [
        ("{not json", 400),
        (json.dumps({"query": "{ me { username "}), 200),
        (json.dumps({"query": "{ nope }"}), 200),
        (json.dumps({"variables": {}}), 400),
        (json.dumps({"query": "query($n: Int!) { events(first: $n) { edges { cursor } } }",
                     "variables": {"n": "many"}}), 200),
    ],
)
def test_malformed_operations_are_graphql_errors(gql, body, status):
    response = gql.client.post("/graphql/", body, content_type="application/json")
    assert response.status_code == status
    assert response.json()["errors"][0]["message"]


def test_an_oversized_body_is_a_graphql_error(gql, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"query": "{ me { username } }", "padding": "x" * 2000})
    response = gql.client.post("/graphql/", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "TOO_LARGE"


def test_a_session_post_without_the_csrf_token_is_refused(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    body = json.dumps({"query": "{ me { username } }"})
    refused = client.post("/graphql/", body, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    client.get("/notifications/")  # any page sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    accepted = client.post("/graphql/", body, content_type="application/json",
                           headers={"X-CSRFToken": token})
    assert accepted.json() == {"data": {"me": {"username": "alice"}}}


def test_the_production_profile_turns_introspection_and_graphiql_off():
    from tests.foundation.test_settings import manage

    result = manage(
        "shell", "-c", "from django.conf import settings as s; "
        "print(s.DEBUG, s.GRAPHQL_INTROSPECTION)",
        DJANGO_SETTINGS_MODULE="config.production", SECRET_KEY="x" * 60,
        ALLOWED_HOSTS="herald.example.com",
    )
    assert result.stdout.strip().splitlines()[-1] == "False False", result.stdout + result.stderr
