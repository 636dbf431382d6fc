"""Liveness and readiness probes.

``/health/live`` answers while the process serves requests. ``/health/ready`` runs
django-health-check's checks for the database, the cache (Redis in services mode), Redis
itself and the Celery broker: 200 when all pass, 503 when any fails, so a load balancer takes
the process out of rotation. Staff also get each check's result by name.
"""

import dataclasses
import datetime

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.http import require_GET
from health_check.base import HealthCheck
from health_check.checks import Cache, Database
from health_check.contrib.redis import Redis
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView
from redis.asyncio import Redis as AsyncRedis

PROBE_TIMEOUT = 3  # seconds: a load balancer's probe must not hang on a dead host


@dataclasses.dataclass
class Broker(HealthCheck):
    """The Celery broker accepts a connection (always true for the in-process ``memory://``).

    django-health-check's Celery check pings workers instead: a web process can take requests
    while no worker runs (its tasks wait in the broker), so its readiness asks for the broker.
    """

    timeout: datetime.timedelta = dataclasses.field(
        default=datetime.timedelta(seconds=PROBE_TIMEOUT), repr=False
    )

    def run(self):
        from config.celery import app

        try:
            with app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=self.timeout.total_seconds())
        except Exception as exc:
            raise ServiceUnavailable(f"broker unreachable: {type(exc).__name__}") from exc


def _redis_client() -> AsyncRedis:
    return AsyncRedis.from_url(
        settings.REDIS_URL, socket_connect_timeout=PROBE_TIMEOUT, socket_timeout=PROBE_TIMEOUT
    )


CHECK_NAMES = {Database: "database", Cache: "cache", Redis: "redis", Broker: "broker"}


class ReadinessView(HealthCheckView):
    def get_checks(self):
        checks = [Database(), Cache(), Broker()]
        if settings.REDIS_URL:
            checks.insert(2, Redis(client_factory=_redis_client))
        return checks

    async def get(self, request, *args, **kwargs):
        healthy, body = await readiness()
        answer = {"status": "ok" if healthy else "unavailable"}
        # Error strings name hosts and libraries: staff see them, a probe needs the status only.
        user = await request.auser()
        if user.is_active and user.is_staff:
            answer["checks"] = body
        return JsonResponse(answer, status=200 if healthy else 503)


async def readiness() -> tuple[bool, dict[str, str]]:
    """Run every readiness check at once: (all passed, check name → "ok" or the error)."""
    import asyncio

    view = ReadinessView()
    with view.get_executor() as executor:
        results = await asyncio.gather(
            *(check.get_result(executor) for check in view.get_checks())
        )
    body = {
        CHECK_NAMES[type(result.check)]: "ok" if not result.error else str(result.error)
        for result in results
    }
    return not any(result.error for result in results), body


@require_GET
def live(request):
    return JsonResponse({"status": "ok"})


ready = ReadinessView.as_view()
