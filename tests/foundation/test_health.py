import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


def test_live_answers_ok(client):
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_names_each_check_to_staff_and_answers_200(admin_client):
    response = admin_client.get("/health/ready")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "redis", "broker"}
    assert all(value == "ok" for value in body["checks"].values())


def test_ready_answers_503_naming_redis_to_staff_when_redis_is_unreachable(
    admin_client, client, settings
):
    unreachable = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    with override_settings(
        REDIS_URL=unreachable,
        CACHES={"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                            "LOCATION": unreachable}},
    ):
        ready = admin_client.get("/health/ready")
        anonymous = client.get("/health/ready")
        live = client.get("/health/live")
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["redis"] != "ok"
    assert checks["database"] == "ok"
    assert live.status_code == 200
    # Anonymous probes get the status only: error strings name hosts and libraries.
    assert anonymous.status_code == 503
    assert anonymous.json() == {"status": "unavailable"}
