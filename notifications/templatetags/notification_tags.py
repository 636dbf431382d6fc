from django import template

from notifications import selectors

register = template.Library()


@register.inclusion_tag("notifications/_badge.html", takes_context=True)
def notification_badge(context):
    """The nav badge with the user's unread count, read from the counter (no row count)."""
    user = getattr(context.get("request"), "user", None) or context.get("user")
    unread = selectors.unread_count(user=user) if user and user.is_authenticated else 0
    return {"unread": unread, "oob": False}
