"""Login and signup are throttled per client address; a forged X-Forwarded-For changes nothing."""

import pytest

from tests.delivery.factories import UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
PASSWORD = "a-long-pass-phrase-9"


@pytest.fixture
def member():
    user = UserFactory(username="carol")
    user.set_password(PASSWORD)
    user.save()
    return user


@pytest.fixture(autouse=True)
def low_limits(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.SIGNUP_RATE_LIMIT = "2/h"


def log_in(client, username, password, forwarded_for):
    return client.post(
        LOGIN, {"username": username, "password": password},
        headers={"X-Forwarded-For": forwarded_for},
    )


def test_failed_logins_from_one_address_lock_it_out_whatever_it_claims_to_forward(
    client, member
):
    statuses = [log_in(client, f"guess{n}", "wrong", f"203.0.113.{n}").status_code for n in range(3)]
    assert statuses == [200, 200, 429]  # the third failure locks the address out

    response = log_in(client, "carol", PASSWORD, "198.51.100.77")

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_failed_logins_for_one_username_lock_that_username_out(client, member):
    for _ in range(3):
        log_in(client, "carol", "wrong", "203.0.113.1")

    assert log_in(client, "carol", PASSWORD, "203.0.113.2").status_code == 429


def test_a_successful_login_below_the_limit_is_not_throttled(client, member):
    log_in(client, "carol", "wrong", "203.0.113.1")

    response = log_in(client, "carol", PASSWORD, "203.0.113.1")

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(member.pk)


def test_the_admin_login_is_throttled_too(client, member):
    for _ in range(3):
        client.post("/admin/login/", {"username": "carol", "password": "wrong"})

    response = client.post("/admin/login/", {"username": "carol", "password": PASSWORD})

    assert response.status_code == 429


def test_signups_from_one_address_are_throttled_whatever_it_claims_to_forward(client):
    from django.contrib.auth import get_user_model

    statuses = []
    for n in range(3):
        statuses.append(
            client.post(
                "/accounts/signup/",
                {"username": f"farm{n}", "email": f"farm{n}@example.com",
                 "password1": PASSWORD, "password2": PASSWORD},
                headers={"X-Forwarded-For": f"203.0.113.{n}"},
            ).status_code
        )
        client.logout()

    assert statuses == [302, 302, 429]
    assert get_user_model().objects.filter(username__startswith="farm").count() == 2
