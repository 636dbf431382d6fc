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


def send_margin_seconds() -> float:
    """How much of its lease a claimed row must have left before a provider is called: twice
    the longest provider timeout (connect, then answer). A row with less is given back untried,
    so no call is still running when the lease runs out and another worker takes the row."""
    longest = max(
        settings.EMAIL_TIMEOUT,
        settings.WEBPUSH_TIMEOUT_SECONDS,
        settings.SMS_API_TIMEOUT_SECONDS,
        settings.MOBILE_PUSH_TIMEOUT_SECONDS,
    )
    return 2.0 * longest


def mobile_send_deadline_seconds() -> float:
    """How long the concurrent pushes of one claimed chunk may take, all of them together
    (connect, wait for a free stream, answer): a push still running then counts as a timeout.
    Inside the send margin, so every push of a chunk has ended before its lease runs out."""
    return 2.0 * settings.MOBILE_PUSH_TIMEOUT_SECONDS
