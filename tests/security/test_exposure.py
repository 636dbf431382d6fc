"""What anonymous callers learn: probe status only, API docs only where they are public."""

import pytest

pytestmark = pytest.mark.django_db


def test_anonymous_readiness_probe_gets_the_status_without_the_checks(client):
    response = client.get("/health/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("path", ["/api/v1/openapi.json", "/api/v1/docs"])
def test_api_docs_are_for_staff_unless_public(client, admin_client, settings, path):
    settings.API_DOCS_PUBLIC = False

    assert client.get(path).status_code == 404
    assert admin_client.get(path).status_code == 200

    settings.API_DOCS_PUBLIC = True
    assert client.get(path).status_code == 200
