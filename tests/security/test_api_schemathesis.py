"""Schemathesis against the HTTP API's own OpenAPI document: no input to any of its
operations makes it answer 5xx (``test_api_statuses.py`` reaches every documented status).

The application is called in-process through Django's WSGI handler, on the test database, with
a real API key and a real device secret; the examples are bounded so the run takes seconds.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from notifications.account.services import mobile_device_register
from notifications.api import api
from notifications.api.services import api_key_create
from tests.delivery.factories import UserFactory

schema = schemathesis.openapi.from_dict(api.get_openapi_schema(path_prefix="/api/v1"))
schema.app = get_wsgi_application()


@pytest.fixture
def credentials(db):
    """Headers for both kinds of caller: a service's API key and a phone's device secret."""
    # As Django's test client does: the test's transaction must outlive each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    _, device_secret = mobile_device_register(
        user=UserFactory(), platform="android", token="fcm-token-" + "f" * 20
    )
    yield {
        "X-Api-Key": api_key_create(name="fuzzer", allow_urgent=True)[1],
        "X-Device-Secret": device_secret,
    }
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=40, deadline=None, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_never_answers_a_server_error(case, credentials):
    case.headers = {**(case.headers or {}), **credentials}
    case.call_and_validate(checks=[not_a_server_error])
