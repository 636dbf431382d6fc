"""A circuit breaker per provider, its state in Django's cache (Redis or local memory).

- closed: calls go through; each failure adds to a counter, a success resets it.
- open: after ``DELIVERY_BREAKER_THRESHOLD`` consecutive failures, calls fail fast until
  ``DELIVERY_BREAKER_COOLDOWN_SECONDS`` have passed.
- half-open: after the cool-down one probe call is let through (``cache.add`` makes sure only one
  worker gets it); its success closes the breaker, its failure opens it for another cool-down.

Several worker processes share the state through the cache, so the breaker works across them on
Redis; ``incr`` is atomic there. Without the cache the breaker stays out of the way (calls go
through, failures are not counted, logged): a Redis outage must not stop delivery.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from notifications.counters import CACHE_ERRORS

logger = logging.getLogger(__name__)

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"

# Failure counts older than this are forgotten: failures a day apart are not "consecutive".
FAILURE_MEMORY_SECONDS = 24 * 3600
# The providers that ever failed, for monitoring (a breaker without a failure is closed).
KNOWN_PROVIDERS_KEY = "delivery:breaker:providers"


def known_providers() -> list[str]:
    return sorted(cache.get(KNOWN_PROVIDERS_KEY) or [])


def breaker_states() -> dict[str, str]:
    """Provider → closed / open / half_open, for every provider that has failed."""
    return {provider: CircuitBreaker(provider).state() for provider in known_providers()}


def _remember_provider(provider: str) -> None:
    # Read-modify-write: two first failures at once may drop one name until its next failure.
    known = cache.get(KNOWN_PROVIDERS_KEY) or []
    if provider not in known:
        cache.set(KNOWN_PROVIDERS_KEY, [*known, provider], timeout=None)


@dataclass(frozen=True)
class Permission:
    allowed: bool
    # When refused: the moment a caller may ask again (epoch seconds).
    retry_at: float | None = None


class CircuitBreaker:
    def __init__(self, provider: str):
        self.provider = provider
        prefix = f"delivery:breaker:{provider}"
        self._failures_key = f"{prefix}:failures"
        self._open_until_key = f"{prefix}:open_until"
        self._probe_key = f"{prefix}:probe"

    @staticmethod
    def threshold() -> int:
        return settings.DELIVERY_BREAKER_THRESHOLD

    @staticmethod
    def cooldown() -> float:
        return float(settings.DELIVERY_BREAKER_COOLDOWN_SECONDS)

    def state(self) -> str:
        open_until = cache.get(self._open_until_key)
        if open_until is None:
            return CLOSED
        return OPEN if time.time() < open_until else HALF_OPEN

    def consecutive_failures(self) -> int:
        return cache.get(self._failures_key, 0)

    def allow(self) -> Permission:
        """May a call go to the provider now? In half-open state only one caller gets a yes."""
        try:
            return self._allow()
        except CACHE_ERRORS:
            logger.warning("Circuit for %s unknown (cache unavailable): call allowed",
                           self.provider)
            self._seen_state = True
            return Permission(allowed=True)

    def _allow(self) -> Permission:
        state = cache.get_many([self._failures_key, self._open_until_key])
        # A success only needs to clear state that was there (one cache round trip saved).
        self._seen_state = bool(state)
        open_until = state.get(self._open_until_key)
        if open_until is None:
            return Permission(allowed=True)
        now = time.time()
        if now < open_until:
            return Permission(allowed=False, retry_at=open_until)
        # The probe slot expires on its own, so a worker that dies mid-probe does not wedge it.
        if cache.add(self._probe_key, now, timeout=max(self.cooldown(), 1)):
            return Permission(allowed=True)
        return Permission(allowed=False, retry_at=now + self.cooldown())

    def record_success(self) -> None:
        try:
            self._record_success()
        except CACHE_ERRORS:
            logger.warning("Circuit for %s: success not recorded (cache unavailable)",
                           self.provider)

    def _record_success(self) -> None:
        if getattr(self, "_seen_state", True):
            if cache.get(self._open_until_key) is not None:
                logger.info("Circuit for %s closed: the provider answered again", self.provider)
            cache.delete_many([self._failures_key, self._open_until_key, self._probe_key])
        self._seen_state = False

    def record_failure(self) -> str:
        """Count a failure; returns the state afterwards."""
        try:
            return self._record_failure()
        except CACHE_ERRORS:
            logger.warning("Circuit for %s: failure not counted (cache unavailable)",
                           self.provider)
            return CLOSED

    def _record_failure(self) -> str:
        cache.add(self._failures_key, 0, timeout=FAILURE_MEMORY_SECONDS)
        try:
            failures = cache.incr(self._failures_key)
        except ValueError:  # expired between add and incr
            cache.set(self._failures_key, 1, timeout=FAILURE_MEMORY_SECONDS)
            failures = 1
        was_open = cache.get(self._open_until_key) is not None
        if failures == 1:
            _remember_provider(self.provider)
        if was_open or failures >= self.threshold():
            cache.set(self._open_until_key, time.time() + self.cooldown(), timeout=None)
            cache.delete(self._probe_key)
            logger.warning(
                "Circuit for %s open for %ss after %d consecutive failures",
                self.provider,
                self.cooldown(),
                failures,
            )
            return OPEN
        return CLOSED

    def reset(self) -> None:
        self._seen_state = True
        self.record_success()
