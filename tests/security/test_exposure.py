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


def test_a_new_api_keys_secret_never_travels_in_a_cookie(admin_client):
    from notifications.models import ApiKey

    response = admin_client.post("/admin/notifications/apikey/add/", {"name": "billing"})
    page = admin_client.get(response["Location"])

    api_key = ApiKey.objects.get(name="billing")
    shown = page.content.decode()
    assert f"{api_key.prefix}." in shown  # the admin shows it once, in the page
    secret = shown.split(f"{api_key.prefix}.", 1)[1].split("<", 1)[0]
    cookies = " ".join(morsel.value for morsel in admin_client.cookies.values())
    assert secret and secret not in cookies and "messages" not in admin_client.cookies


def test_staff_accounts_have_no_public_player_page(client, admin_user):
    from tests.delivery.factories import UserFactory

    player, viewer = UserFactory(), UserFactory()
    client.force_login(viewer)

    assert client.get(f"/leaderboard/players/{player.pk}/").status_code == 200
    assert client.get(f"/leaderboard/players/{admin_user.pk}/").status_code == 404
    client.force_login(admin_user)
    assert client.get(f"/leaderboard/players/{admin_user.pk}/").status_code == 200
