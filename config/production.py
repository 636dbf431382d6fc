"""Production profile: the same environment-driven settings, with every security switch on.

Use with ``DJANGO_SETTINGS_MODULE=config.production``; ``SECRET_KEY``, ``ALLOWED_HOSTS`` and
``CSRF_TRUSTED_ORIGINS`` come from the environment like everything else. ``DEBUG`` is off
whatever the environment says, and so is everything ``config.settings`` derives from it
(``tests/foundation/test_settings.py`` checks that ``DEBUG`` in the environment changes nothing
here).
"""

from django.core.exceptions import ImproperlyConfigured

from config.settings import *  # noqa: F403
from config.settings import (
    BASE_DIR,
    DEVELOPMENT_SECRET_KEY,
    SECRET_KEY,
    SMTP_EMAIL_BACKEND,
    env_bool,
    env_int,
    env_str,
)

DEBUG = False
# The settings config.settings derives from DEBUG, derived again with it off.
if SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set for config.production.")
STATIC_ROOT = env_str("STATIC_ROOT") or BASE_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = False
EMAIL_BACKEND = env_str("EMAIL_BACKEND", SMTP_EMAIL_BACKEND)
API_DOCS_PUBLIC = env_bool("API_DOCS_PUBLIC", default=False)
GRAPHQL_INTROSPECTION = env_bool("GRAPHQL_INTROSPECTION", default=False)

SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
