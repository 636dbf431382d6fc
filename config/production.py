"""Production profile: the same environment-driven settings, with every security switch on.

Use with ``DJANGO_SETTINGS_MODULE=config.production``; ``SECRET_KEY``, ``ALLOWED_HOSTS`` and
``CSRF_TRUSTED_ORIGINS`` come from the environment like everything else.
"""

import os

os.environ["DEBUG"] = "false"

from config.settings import *  # noqa: E402,F403
from config.settings import env_bool, env_int  # noqa: E402

DEBUG = False
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
WHITENOISE_USE_FINDERS = False
STATIC_ROOT = STATIC_ROOT or BASE_DIR / "staticfiles"  # noqa: F405
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
