"""Schemathesis against the HTTP API's own OpenAPI document: no input makes it answer 5xx.

The application is called in-process through Django's WSGI handler, on the test database, with
a real API key; the examples are bounded so the run takes seconds.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from notifications.api import api
from notifications.api.services import api_key_create

schema = schemathesis.openapi.from_dict(api.get_openapi_schema(path_prefix="/api/v1"))
schema.app = get_wsgi_application()


@pytest.fixture
def raw_key(db):
    # As Django's test client does: the test's transaction must outlive each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield api_key_create(name="fuzzer", allow_urgent=True)[1]
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.include(path=["/api/v1/notifications", "/api/v1/notifications/bulk"]).parametrize()
@settings(
    max_examples=40, deadline=None, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_notifications_api_never_answers_a_server_error(case, raw_key):
    case.headers = {**(case.headers or {}), "X-Api-Key": raw_key}
    case.call_and_validate(checks=[not_a_server_error])
