from __future__ import annotations

import hmac

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import models

from notifications.kinds import KINDS
from notifications.models import ApiKey, Priority


_KEY_FIELDS = [field.attname for field in ApiKey._meta.concrete_fields]


def api_key_for(*, raw_key: str) -> ApiKey | None:
    """The ApiKey (revoked or not) whose secret is ``raw_key``, or None, with its
    ``recipient_group_ids``: one query, by the unique prefix, joined to the key's groups (one row
    per group). The secret is checked against its SHA-256 in constant time; a slow password hash
    would add nothing for a 256-bit random secret and cost milliseconds on every request."""
    prefix, _, secret = raw_key.strip().partition(".")
    if not prefix or not secret:
        return None
    rows = list(
        ApiKey.objects.filter(prefix=prefix).values_list(*_KEY_FIELDS, "recipient_groups__pk")
    )
    if not rows:
        return None
    api_key = ApiKey.from_db("default", _KEY_FIELDS, rows[0][:-1])
    if not hmac.compare_digest(api_key.hashed_key, ApiKey.hash(raw_key.strip())):
        return None
    api_key.recipient_group_ids = [row[-1] for row in rows if row[-1] is not None]
    return api_key


def api_kind_refusal(*, api_key: ApiKey, kind: str, priority: str | None) -> str:
    """Why ``api_key`` may not send this kind at this urgency, or "" when it may (no query)."""
    if api_key.kinds and kind not in api_key.kinds:
        return f"This API key may not send {kind!r} notifications (allowed: {', '.join(api_key.kinds)})"
    if (priority or KINDS[kind].priority) == Priority.URGENT and not api_key.allow_urgent:
        return "This API key may not send urgent notifications"
    return ""


def api_recipients_refusal(*, api_key: ApiKey, recipient_ids: list[int]) -> str:
    """Why ``api_key`` may not notify these users (outside its recipient groups), or ""."""
    if not recipient_ids:
        return ""
    groups = api_key.recipient_group_ids
    if not groups:
        return ""
    members = set(
        get_user_model()
        .objects.filter(pk__in=recipient_ids, groups__in=groups)
        .values_list("pk", flat=True)
    )
    outside = len(set(recipient_ids) - members)
    if outside:
        return f"{outside} recipients are outside this API key's recipient groups"
    return ""


def subject_for(*, reference: str) -> models.Model | None:
    """The object a ``"app_label.model:pk"`` reference names (the topic format), or None.

    Only models of ``API_SUBJECT_APPS`` can be named: a client cannot probe users or keys.
    """
    label, _, pk = reference.partition(":")
    app_label, _, model = label.partition(".")
    if app_label not in settings.API_SUBJECT_APPS:
        return None
    try:
        content_type = ContentType.objects.get_by_natural_key(app_label, model)
    except ContentType.DoesNotExist:
        return None
    model_class = content_type.model_class()
    if model_class is None:
        return None
    return model_class._default_manager.filter(pk=pk).first()
