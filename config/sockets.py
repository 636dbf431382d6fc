"""Small helpers for consumers that render forms into a page over its socket."""

from django.conf import settings


def page_csrf_token(scope) -> str:
    """The page's CSRF token as its cookie holds it (Django accepts the unmasked secret), so a
    form rendered for a socket also works as a plain POST. Empty without the cookie."""
    return scope.get("cookies", {}).get(settings.CSRF_COOKIE_NAME, "")
