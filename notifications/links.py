"""Which click-through URLs a notification may carry.

A notification's ``url`` goes into ``href`` attributes, emails, SMS and pushes, and the service
worker opens it: a ``javascript:`` or foreign URL there is script injection or phishing in
Herald's name. Only relative paths (``/events/12/``), this site's own origin (``SITE_URL``) and
the hosts in ``NOTIFICATION_URL_ALLOWED_HOSTS`` are accepted.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.utils.http import url_has_allowed_host_and_scheme


def allowed_hosts() -> set[str]:
    return {urlsplit(settings.SITE_URL).netloc, *settings.NOTIFICATION_URL_ALLOWED_HOSTS}


def is_safe_url(url: str) -> bool:
    """An empty URL (no link), a relative path, or an http(s) URL on an allowed host."""
    if not url:
        return True
    if not url.startswith(("/", "http://", "https://")) or url.startswith(("//", "/\\")):
        return False
    return url_has_allowed_host_and_scheme(url, allowed_hosts=allowed_hosts())


def safe_url_or(url: str, fallback: str) -> str:
    return url if url and is_safe_url(url) else fallback
