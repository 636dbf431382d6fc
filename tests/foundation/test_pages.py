import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db


def test_home_renders_with_htmx_and_csrf_header(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "htmx" in html and 'hx-headers=\'{"x-csrftoken":' in html


def test_signup_creates_account_and_logs_in(client):
    response = client.post(
        "/accounts/signup/",
        {"username": "newcomer", "email": "newcomer@example.com",
         "password1": "a-long-pass-phrase-9", "password2": "a-long-pass-phrase-9"},
    )
    assert response.status_code == 302
    assert get_user_model().objects.filter(username="newcomer").exists()
    assert "notification-badge" in client.get("/").content.decode()


def test_signup_with_mismatched_passwords_is_a_400_with_message(client):
    response = client.post(
        "/accounts/signup/",
        {"username": "newcomer", "password1": "a-long-pass-phrase-9", "password2": "other-pass-phrase-9"},
    )
    assert response.status_code == 400
    assert "didn’t match" in response.content.decode() or "didn't match" in response.content.decode()
    assert not get_user_model().objects.filter(username="newcomer").exists()


def test_login_and_logout_round_trip(client):
    get_user_model().objects.create_user(username="carol", password="a-long-pass-phrase-9")
    response = client.post("/accounts/login/", {"username": "carol", "password": "a-long-pass-phrase-9"})
    assert response.status_code == 302
    assert "carol" in client.get("/").content.decode()
    assert client.post("/accounts/logout/").status_code == 302
    assert "Log in" in client.get("/").content.decode()


def test_admin_requires_staff_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
