"""Settings come from the environment; the production profile passes Django's deploy checks."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env},
        capture_output=True, text=True, timeout=120,
    )


def test_production_profile_passes_check_deploy_without_warnings():
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING",
        DJANGO_SETTINGS_MODULE="config.production",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="herald.example.com",
        CSRF_TRUSTED_ORIGINS="https://herald.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_secret_key_is_required_when_debug_is_off():
    result = manage("check", DJANGO_SETTINGS_MODULE="config.settings", DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_services_mode_follows_redis_url():
    script = (
        "from django.conf import settings as s;"
        "print(s.CHANNEL_LAYERS['default']['BACKEND'], s.CACHES['default']['BACKEND'], s.CELERY_BROKER_URL)"
    )
    embedded = manage("shell", "-c", script, DJANGO_SETTINGS_MODULE="config.settings")
    services = manage(
        "shell", "-c", script, DJANGO_SETTINGS_MODULE="config.settings",
        REDIS_URL="redis://127.0.0.1:6379/9", SECRET_KEY=secrets.token_urlsafe(50),
    )
    assert embedded.stdout.strip().splitlines()[-1].split() == [
        "config.channel_layers.EmbeddedChannelLayer",
        "django.core.cache.backends.locmem.LocMemCache",
        "memory://",
    ]
    assert services.stdout.strip().splitlines()[-1].split() == [
        "channels_redis.pubsub.RedisPubSubChannelLayer",
        "django.core.cache.backends.redis.RedisCache",
        "redis://127.0.0.1:6379/9",
    ]
