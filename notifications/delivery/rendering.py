"""Turn a Notification into what each external channel sends, from the kind's templates.

Templates: ``notifications/kinds/<kind>/<part>`` falling back to ``notifications/kinds/_default/``
(see ``notifications.kinds``). The context is the ``data`` given to ``notify`` plus ``subject``,
``notification``, ``recipient``, ``absolute_url`` and ``site_url``.
"""

from __future__ import annotations

import functools
import json
import re

from django.conf import settings
from django.db.models import prefetch_related_objects
from django.template.base import Lexer, TokenType
from django.template.loader import select_template
from django.utils.functional import SimpleLazyObject

from notifications.delivery import clicks, unsubscribe
from notifications.delivery.backends.messages import (
    EmailMessage,
    MobileMessage,
    PushMessage,
    SmsMessage,
)
from notifications.kinds import EMAIL_DIGEST, get_kind
from notifications.links import safe_url_or
from notifications.models import Channel, Notification, Priority

# RFC 8030 urgency per priority: a phone on battery delivers "low" lazily.
PUSH_URGENCY = {
    Priority.URGENT: "high",
    Priority.HIGH: "high",
    Priority.NORMAL: "normal",
    Priority.LOW: "low",
}
SMS_MAX_LENGTH = 480  # three concatenated segments
DIGEST_MAX_ITEMS = 50  # the rest is "and N more" with a link to the center


def absolute_url(url: str) -> str:
    url = safe_url_or(url, "")
    if not url:
        return settings.SITE_URL + "/"
    if url.startswith(("http://", "https://")):
        return url
    return settings.SITE_URL + (url if url.startswith("/") else "/" + url)


def notification_context(notification: Notification) -> dict:
    context = dict(notification.data or {})
    recipient = (
        notification.recipient
        if Notification.recipient.is_cached(notification)
        # Read only if the template does (a phone-app payload shared by a fan-out's rows never
        # does): no query for a recipient nobody reads.
        else SimpleLazyObject(lambda: notification.recipient)
    )
    context.update(
        subject=notification.subject if notification.content_type_id else None,
        notification=notification,
        recipient=recipient,
        absolute_url=absolute_url(notification.url),
        site_url=settings.SITE_URL,
    )
    return context


def _render(kind_key: str, part: str, context: dict) -> str:
    template = select_template(get_kind(kind_key).template_names(part))
    return template.render(context)


def _envelope(notification: Notification) -> dict:
    return {
        "recipient_id": notification.recipient_id,
        "kind": notification.kind,
        "notification_ids": (notification.pk,),
    }


def _one_line(text: str) -> str:
    return " ".join(text.split())


def render_email(notification: Notification) -> EmailMessage:
    """The kind's email, with a one-click unsubscribe from this kind (RFC 8058 headers, and
    ``unsubscribe_url`` for the templates)."""
    unsubscribe_url = unsubscribe.url_for(
        user_id=notification.recipient_id, kind=notification.kind
    )
    context = {**notification_context(notification), "unsubscribe_url": unsubscribe_url}
    # The link goes through the signed click redirect, which records the click on the row.
    context["target_url"] = context["absolute_url"]
    context["absolute_url"] = clicks.url_for(
        notification_id=notification.pk, channel=Channel.EMAIL
    )
    return EmailMessage(
        to=notification.recipient.email,
        subject=_one_line(_render(notification.kind, "email_subject.txt", context)),
        text=_render(notification.kind, "email.txt", context).strip() + "\n",
        html=_render(notification.kind, "email.html", context),
        headers={
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        **_envelope(notification),
    )


def render_digest_email(notifications: list[Notification]) -> EmailMessage:
    """One email listing several low-priority notifications of one recipient."""
    recipient = notifications[0].recipient
    newest_first = sorted(notifications, key=lambda n: n.pk, reverse=True)
    items = [
        {"notification": n,
         "absolute_url": clicks.url_for(notification_id=n.pk, channel=Channel.EMAIL)}
        for n in newest_first[:DIGEST_MAX_ITEMS]
    ]
    context = {
        "recipient": recipient,
        "items": items,
        "count": len(notifications),
        "more": len(notifications) - len(items),
        "site_url": settings.SITE_URL,
        "absolute_url": absolute_url("/notifications/"),
    }
    return EmailMessage(
        to=recipient.email,
        subject=_one_line(_render(EMAIL_DIGEST, "email_subject.txt", context)),
        text=_render(EMAIL_DIGEST, "email.txt", context).strip() + "\n",
        html=_render(EMAIL_DIGEST, "email.html", context),
        recipient_id=recipient.pk,
        kind=EMAIL_DIGEST,
        notification_ids=tuple(n.pk for n in notifications),
    )


def render_sms(notification: Notification, *, to: str) -> SmsMessage:
    text = _one_line(_render(notification.kind, "sms.txt", notification_context(notification)))
    return SmsMessage(to=to, text=text[:SMS_MAX_LENGTH], **_envelope(notification))


def _render_json(notification: Notification, part: str, context: dict) -> dict:
    """A JSON template part as a dict; a broken one gives an empty dict (the caller's defaults
    then fill it), so a template typo never stops a delivery."""
    try:
        payload = json.loads(_render(notification.kind, part, context))
    except ValueError:
        payload = {}
    return payload if isinstance(payload, dict) else {}


def render_push_payload(notification: Notification) -> dict:
    """The JSON the service worker shows (``title``, ``body``, ``url``, ``tag``...)."""
    payload = _render_json(notification, "push.json", notification_context(notification))
    payload.setdefault("title", notification.title)
    payload.setdefault("body", notification.body)
    payload.setdefault("url", absolute_url(notification.url))
    payload.setdefault("tag", f"{notification.kind}:{notification.pk}")
    payload.setdefault("id", notification.pk)
    # The service worker reports a click here (sw.js), which records it on the Delivery row.
    payload["click"] = clicks.url_for(notification_id=notification.pk, channel=Channel.PUSH)
    return payload


def push_message(notification: Notification, subscription, payload: dict) -> PushMessage:
    return PushMessage(
        endpoint=subscription.endpoint,
        p256dh=subscription.p256dh,
        auth=subscription.auth,
        payload=payload,
        urgency=PUSH_URGENCY.get(notification.priority, "normal"),
        **_envelope(notification),
    )


def render_mobile_payload(notification: Notification, *, badge: int | None = None) -> dict:
    """The kind's ``mobile.json``: ``title``, ``body``, ``url`` (deep link), ``badge`` (the
    recipient's unread count), ``collapse_key``, optionally ``sound``."""
    context = {**notification_context(notification), "badge": badge or 0}
    payload = _render_json(notification, "mobile.json", context)
    payload.setdefault("title", notification.title)
    payload.setdefault("body", notification.body)
    payload.setdefault("url", absolute_url(notification.url))
    payload.setdefault("collapse_key", notification.dedupe_key)
    if badge is not None:
        payload.setdefault("badge", badge)
    return payload


# What the rows of one fan-out share: a template that reads nothing else of the notification
# renders the same for rows equal in these (and in badge, data and subject).
SHARED_NOTIFICATION_FIELDS = frozenset(
    {"title", "body", "url", "kind", "dedupe_key", "object_id", "content_type_id", "priority",
     "data", "subject"}
)
# Tags that only read the names written in them (a custom tag may read the whole context).
PLAIN_TAGS = frozenset(
    {"autoescape", "endautoescape", "if", "elif", "else", "endif", "for", "empty", "endfor",
     "with", "endwith", "firstof", "spaceless", "endspaceless", "filter", "endfilter",
     "comment", "endcomment", "templatetag"}
)
_NAME = re.compile(r"""("[^"]*"|'[^']*')|([A-Za-z_]\w*(?:\.\w+)*)""")


@functools.lru_cache(maxsize=128)
def _reads_per_row_values(source: str) -> bool:
    """Whether a template may render differently for two rows of one fan-out: it names the
    recipient, the notification itself or one of its per-row fields (``pk``, ``created_at``…),
    or uses a tag that could read them unseen (``include``, ``extends``, a loaded tag).
    Conservative: an unknown construct counts as per-row."""
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.BLOCK:
            if token.contents.split(" ", 1)[0] not in PLAIN_TAGS:
                return True
        elif token.token_type != TokenType.VAR:
            continue
        for quoted, name in _NAME.findall(token.contents):
            if quoted:
                continue
            root, _, rest = name.partition(".")
            if root == "recipient":
                return True
            if root == "notification" and rest.split(".")[0] not in SHARED_NOTIFICATION_FIELDS:
                return True
    return False


def render_mobile_payloads(
    notifications: list[Notification], *, badges: dict[int, int]
) -> list[dict]:
    """``render_mobile_payload`` for each notification (its recipient's unread count from
    ``badges``), rendered once per group of rows that cannot differ: a fan-out's rows share
    their text, so unless the kind's ``mobile.json`` reads per-row values, rows equal in text,
    link, data, subject and badge get the same payload (one dict, not to be changed)."""
    per_row_by_kind: dict[str, bool] = {}
    for kind in {notification.kind for notification in notifications}:
        template = select_template(get_kind(kind).template_names("mobile.json"))
        source = getattr(getattr(template, "template", None), "source", None)
        per_row_by_kind[kind] = source is None or _reads_per_row_values(source)
    # Rows rendered one by one may read their recipient: all of them in one query.
    prefetch_related_objects(
        [notification for notification in notifications if per_row_by_kind[notification.kind]],
        "recipient",
    )
    rendered: dict[tuple, dict] = {}
    payloads = []
    for notification in notifications:
        badge = badges.get(notification.recipient_id)
        kind = notification.kind
        if per_row_by_kind[kind]:
            payloads.append(render_mobile_payload(notification, badge=badge))
            continue
        key = (
            kind, notification.title, notification.body, notification.url,
            notification.dedupe_key, notification.content_type_id, notification.object_id,
            notification.priority, json.dumps(notification.data, sort_keys=True, default=str),
            badge,
        )
        if key not in rendered:
            rendered[key] = render_mobile_payload(notification, badge=badge)
        payloads.append(rendered[key])
    return payloads


def mobile_message(notification: Notification, device, payload: dict) -> MobileMessage:
    badge = payload.get("badge")
    return MobileMessage(
        platform=device.platform,
        token=device.token,
        title=str(payload.get("title") or ""),
        body=str(payload.get("body") or ""),
        url=str(payload.get("url") or ""),
        badge=badge if isinstance(badge, int) else None,
        collapse_key=str(payload.get("collapse_key") or ""),
        app_id=device.app_id,
        urgent=notification.priority == Priority.URGENT,
        sound=str(payload.get("sound") or ""),
        data={"notification_id": str(notification.pk), "kind": notification.kind},
        **_envelope(notification),
    )
