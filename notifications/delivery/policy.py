"""Retry timing and queue choice, read from settings at call time."""

from __future__ import annotations

import random

from django.conf import settings

QUEUE_BY_PRIORITY = {"urgent": "urgent", "high": "default", "normal": "default", "low": "bulk"}


def queue_for(priority: str) -> str:
    return QUEUE_BY_PRIORITY.get(priority, "default")


def max_attempts() -> int:
    return settings.DELIVERY_MAX_ATTEMPTS


def retry_delay(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: exponential, capped, jittered.

    "Equal jitter": half of the exponential step is fixed, half random, so retries of many rows
    that failed together spread out without ever coming back sooner than half the step.
    """
    base = float(settings.DELIVERY_RETRY_BASE_SECONDS)
    cap = float(settings.DELIVERY_RETRY_MAX_SECONDS)
    step = min(cap, base * (2 ** max(attempts - 1, 0)))
    return step / 2 + random.uniform(0, step / 2)
