"""Values read at scrape time from the stores that hold them: the broker (queue depth and age)
and the cache (circuit breakers). Nothing is copied into a second store."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily

from operations.metrics import SettledFilesCollector

BREAKER_STATE_VALUES = {"closed": 0, "half_open": 1, "open": 2}


class BrokerAndBreakerCollector:
    def collect(self):
        from notifications.delivery.breaker import breaker_states
        from operations.queues import queue_states

        depth = GaugeMetricFamily(
            "herald_queue_depth", "Tasks waiting in the broker, per Celery queue.",
            labels=["queue"],
        )
        age = GaugeMetricFamily(
            "herald_queue_oldest_age_seconds",
            "How long the oldest waiting task of the queue has waited (0 when empty).",
            labels=["queue"],
        )
        for state in queue_states():
            if state.depth is None:
                continue
            depth.add_metric([state.name], state.depth)
            age.add_metric([state.name], state.oldest_age_seconds or 0.0)
        yield depth
        yield age
        breakers = GaugeMetricFamily(
            "herald_delivery_breaker_state",
            "Circuit breaker per provider: 0 closed, 1 half-open, 2 open.",
            labels=["provider"],
        )
        for provider, state in breaker_states().items():
            breakers.add_metric([provider], BREAKER_STATE_VALUES[state])
        yield breakers


def registry():
    """A registry with every process's metrics (the multiprocess files) and the scrape-time ones."""
    from prometheus_client import CollectorRegistry

    collected = CollectorRegistry()
    collected.register(SettledFilesCollector())
    collected.register(BrokerAndBreakerCollector())
    return collected
