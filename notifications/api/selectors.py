from __future__ import annotations

import hmac

from notifications.models import ApiKey


def api_key_for(*, raw_key: str) -> ApiKey | None:
    """The ApiKey (revoked or not) whose secret is ``raw_key``, or None."""
    prefix, _, secret = raw_key.strip().partition(".")
    if not prefix or not secret:
        return None
    api_key = ApiKey.objects.filter(prefix=prefix).first()
    if api_key is None or not hmac.compare_digest(api_key.hashed_key, ApiKey.hash(raw_key.strip())):
        return None
    return api_key
