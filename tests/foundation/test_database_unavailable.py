"""While the database cannot be reached the site answers 503 with Retry-After, not 500 (the
real outage, a PostgreSQL cluster stopped and started, is in tests/chaos/)."""

import pytest
from django.db import OperationalError
from django.test import Client
from django.urls import path

from config import urls as project_urls


def database_gone(request):
    raise OperationalError("connection to server at 127.0.0.1, port 5432 failed")


def broken(request):
    raise RuntimeError("a bug")


urlpatterns = [
    path("database-gone/", database_gone),
    path("broken/", broken),
]
handler500 = project_urls.handler500


@pytest.fixture
def client_without_raise(settings):
    settings.ROOT_URLCONF = __name__
    settings.DEBUG = False
    return Client(raise_request_exception=False)


def test_an_unreachable_database_answers_503_with_retry_after(client_without_raise):
    response = client_without_raise.get("/database-gone/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert b"briefly unavailable" in response.content


def test_other_errors_stay_500(client_without_raise):
    assert client_without_raise.get("/broken/").status_code == 500
