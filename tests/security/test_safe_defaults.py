"""Outside the embedded development mode the defaults are the safe ones."""

import secrets

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from tests.foundation.test_settings import manage

SHOW = (
    "from django.conf import settings as s;"
    "print(s.DEBUG, s.SECURE_PROXY_SSL_HEADER, s.SECRET_KEY.startswith('insecure'))"
)


def shown(result) -> list[str]:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().splitlines()[-1].split(" ", 1)


def test_services_mode_without_a_secret_key_refuses_to_start():
    result = manage("check", DJANGO_SETTINGS_MODULE="config.settings", REDIS_URL="redis://x:1/0")

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_services_mode_defaults_to_debug_off_even_when_debug_is_asked_without_a_key():
    services = manage(
        "shell", "-c", SHOW, DJANGO_SETTINGS_MODULE="config.settings",
        REDIS_URL="redis://x:1/0", SECRET_KEY=secrets.token_urlsafe(50),
    )
    debug_without_key = manage(
        "check", DJANGO_SETTINGS_MODULE="config.settings", REDIS_URL="redis://x:1/0", DEBUG="true",
    )

    assert shown(services) == ["False", "None False"]
    assert debug_without_key.returncode != 0  # the fixed key is for embedded mode only


def test_embedded_mode_is_the_development_mode():
    assert shown(manage("shell", "-c", SHOW, DJANGO_SETTINGS_MODULE="config.settings")) == [
        "True", "None True"
    ]


def test_the_proxy_ssl_header_is_trusted_only_when_configured():
    key = secrets.token_urlsafe(50)
    plain = manage(
        "shell", "-c", SHOW, DJANGO_SETTINGS_MODULE="config.production", SECRET_KEY=key
    )
    proxied = manage(
        "shell", "-c", SHOW, DJANGO_SETTINGS_MODULE="config.production", SECRET_KEY=key,
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
    )

    assert shown(plain) == ["False", "None False"]
    assert shown(proxied) == ["False", "('HTTP_X_FORWARDED_PROTO', 'https') False"]


@pytest.mark.django_db
def test_demo_data_has_no_superuser_in_services_mode_unless_asked(settings):
    settings.EMBEDDED_MODE = False

    call_command("load_demo_data", stdout=open("/dev/null", "w"))
    assert not get_user_model().objects.filter(username="admin").exists()
    assert get_user_model().objects.filter(username="alice").exists()

    call_command("load_demo_data", "--superuser", stdout=open("/dev/null", "w"))
    assert get_user_model().objects.get(username="admin").is_superuser
