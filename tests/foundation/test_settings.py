"""Settings come from the environment; the production profile passes Django's deploy checks."""

import json
import os
import re
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
        "config.cache.RedisCache",
        "redis://127.0.0.1:6379/9",
    ]


# Each setting's repr, without the addresses of objects (which differ between processes).
ALL_SETTINGS = (
    "import json, re; from django.conf import settings as s;"
    "print(json.dumps({name: re.sub(' at 0x[0-9a-f]+', '', repr(getattr(s, name)))"
    " for name in dir(s) if name.isupper()}))"
)


def settings_of(**env: str) -> dict:
    result = manage("shell", "-c", ALL_SETTINGS, **env)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_is_the_same_whatever_debug_the_environment_asks():
    env = {"DJANGO_SETTINGS_MODULE": "config.production", "SECRET_KEY": secrets.token_urlsafe(50)}
    asked_off = settings_of(**env, DEBUG="false")
    assert asked_off["DEBUG"] == "False" and asked_off["API_DOCS_PUBLIC"] == "False"
    # Everything config.settings derives from DEBUG is derived again with it off.
    assert settings_of(**env, DEBUG="true") == asked_off
    assert settings_of(**env) == asked_off  # embedded mode would default DEBUG on


def test_loading_production_leaves_the_environment_alone(tmp_path):
    script = (
        "import os; before = dict(os.environ); import config.production;"
        "print(sorted(set(os.environ.items()) ^ set(before.items())))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DEBUG": "true",
             "DJANGO_SETTINGS_MODULE": "config.production",
             "SECRET_KEY": secrets.token_urlsafe(50), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_production_refuses_the_development_key_even_in_embedded_debug_mode():
    result = manage("check", DJANGO_SETTINGS_MODULE="config.production", DEBUG="true")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def project_python_files() -> list[Path]:
    files = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [ROOT / name for name in files if not name.startswith(("tests/", "bench/"))]


def test_settings_are_read_only_as_defined_attributes():
    # A getattr with a default hides a setting from config/settings.py and from the docs.
    hidden = [
        f"{path.relative_to(ROOT)}: {line.strip()}"
        for path in project_python_files()
        for line in path.read_text().splitlines()
        if re.search(r"getattr\(\s*(django\.conf\.)?settings\s*,", line)
    ]
    assert hidden == []


def test_every_environment_variable_of_the_settings_is_documented():
    sources = (ROOT / "config" / "settings.py").read_text() + (
        ROOT / "config" / "production.py"
    ).read_text()
    variables = set(re.findall(r'env_(?:str|bool|int|list)\(\s*"([A-Z0-9_]+)"', sources))
    docs = (ROOT / "README.md").read_text() + "".join(
        path.read_text() for path in (ROOT / "docs").glob("*.md")
    )
    assert variables and sorted(name for name in variables if f"`{name}`" not in docs) == []
