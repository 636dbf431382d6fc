"""Without Chromium the browser tests fail, saying what to install; they are never skipped."""

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def test_browser_tests_fail_with_a_clear_message_when_chromium_is_missing():
    database = connection.settings_dict
    # A database name of its own: the inner run creates and drops its own test database.
    env = {
        **os.environ,
        "HERALD_CHROMIUM": "/nonexistent/chromium",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST'] or '127.0.0.1'}:"
        f"{database['PORT'] or 5432}/herald_ui_missing_browser",
        "REDIS_URL": settings.REDIS_URL,
    }
    env.pop("PYTEST_CURRENT_TEST", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfEs",
         "tests/ui/test_browser_details.py::test_center_actions_work_without_javascript"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Chromium is missing at /nonexistent/chromium" in output
    assert "apt-get install -y chromium" in output
    assert "skipped" not in output
