"""Tags of the browser pages: the live client's starting point, pinned banners, kind labels."""

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.timesince import timesince

from notifications import selectors
from notifications.kinds import KINDS
from notifications.links import safe_url_or

register = template.Library()


def _user(context):
    user = getattr(context.get("request"), "user", None) or context.get("user")
    return user if user is not None and user.is_authenticated else None


@register.simple_tag(takes_context=True)
def notification_last_id(context) -> int:
    """The newest notification id the page starts from; the socket catches up after it."""
    user = _user(context)
    return selectors.latest_notification_id(user=user) if user else 0


@register.filter
def safe_link(url: str, fallback: str = "/notifications/") -> str:
    """The notification's link if it is on this site (``notifications.links``), else ``fallback``:
    rows stored before the check must not put a ``javascript:`` URL into an ``href``."""
    return safe_url_or(url or "", fallback)


@register.simple_tag
def notification_poll_ms() -> int:
    """How often the page polls while its socket is down (``NOTIFICATION_POLL_SECONDS``)."""
    return int(settings.NOTIFICATION_POLL_SECONDS * 1000)


@register.inclusion_tag("notifications/_banners.html", takes_context=True)
def notification_banners(context):
    """Unread urgent notifications pinned at the top of every page until dismissed."""
    user = _user(context)
    return {"notifications": selectors.urgent_unread(user=user) if user else []}


@register.filter
def kind_label(key: str) -> str:
    kind = KINDS.get(key)
    return kind.label if kind else key


@register.filter
def ago(moment) -> str:
    """"just now" for the last minute, else "5 minutes ago" (the largest unit only)."""
    if moment is None:
        return ""
    if (timezone.now() - moment).total_seconds() < 60:
        return "just now"
    return f"{timesince(moment, depth=1)} ago"
