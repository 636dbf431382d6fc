"""The settings the suite runs with: the project's, from the environment, in debug mode.

The suite runs against Redis (services mode), where the project requires a SECRET_KEY; a random
one per run is set in the environment, so the servers the browser tests start share it, and
likewise the metrics directory.
"""

import atexit
import os
import secrets
import shutil
import tempfile

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
# Each run has its own metrics directory (shared with the servers it starts), so runs neither
# add to each other's counters nor leave files in the checkout.
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="herald-metrics-")
    atexit.register(shutil.rmtree, os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)

from config.settings import *  # noqa: E402,F403

from tests.channel_layers import recording_backend  # noqa: E402

# The configured channel layer, also recording live events for the ``notification_outbox`` fixture.
CHANNEL_LAYERS = {  # noqa: F405
    **CHANNEL_LAYERS,  # noqa: F405
    "default": {
        **CHANNEL_LAYERS["default"],  # noqa: F405
        "BACKEND": recording_backend(CHANNEL_LAYERS["default"]["BACKEND"]),  # noqa: F405
    },
}

# On SQLite the test database is a file, as the embedded mode's is, not Django's default shared
# in-memory database: there, concurrent transactions fail at once with "database table is locked"
# instead of waiting out the busy timeout, so tests of two concurrent runs (two beats sending the
# same reminders) would test SQLite's shared cache rather than the product.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    _sqlite_test_dir = tempfile.mkdtemp(prefix="herald-test-db-")
    atexit.register(shutil.rmtree, _sqlite_test_dir, ignore_errors=True)
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(_sqlite_test_dir, "test.sqlite3")}  # noqa: F405
