"""``/metrics`` (Prometheus text format), ``/health/status`` (JSON for monitors) and the
operations page in the admin."""

from datetime import timedelta

from asgiref.sync import sync_to_async
from django.contrib.admin.views.decorators import staff_member_required
from django.template.response import TemplateResponse
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from config.health import readiness
from operations import charts, collectors, metrics, selectors
from operations.access import monitor_required


@require_GET
@monitor_required
def metrics_view(request):
    metrics.sample_process()  # the scraping process is fresh to the second
    return HttpResponse(generate_latest(collectors.registry()), content_type=CONTENT_TYPE_LATEST)


@require_GET
@monitor_required
async def status_view(request):
    healthy, checks = await readiness()
    snapshot = await sync_to_async(selectors.status_snapshot)()
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks, **snapshot},
        status=200 if healthy else 503,
    )


def _dashboard_context(request) -> dict:
    from django.conf import settings
    from django.contrib import admin

    from notifications.models import Channel

    data = selectors.dashboard()
    minutes = data["per_minute"]
    # 1,440 raw minutes draw as noise: each point is the average per minute of 10 minutes.
    start, step = minutes["start"], timedelta(minutes=AVERAGE_MINUTES)
    channel_names = dict(Channel.choices)
    delivery_charts = [
        charts.line_chart(
            {status: charts.averaged(values, AVERAGE_MINUTES)
             for status, values in sorted(by_status.items())},
            start=start, step=step, colours=charts.STATUS_COLOURS,
            title=f"{channel_names.get(channel, channel)} deliveries per minute by status "
                  f"({AVERAGE_MINUTES}-minute average)",
        )
        for channel, by_status in sorted(minutes["deliveries"].items())
    ]
    queues = [state for state in data["queues"] if state.depth is not None]
    return {
        **admin.site.each_context(request),
        "title": "Operations",
        **data,
        "notifications_chart": charts.line_chart(
            {"created": charts.averaged(minutes["notifications"], AVERAGE_MINUTES)}, start=start,
            step=step,
            title=f"Notifications created per minute, last 24 hours ({AVERAGE_MINUTES}-minute "
                  "average)",
        ),
        "delivery_charts": delivery_charts,
        "queue_chart": charts.bar_chart(
            [(state.name, state.depth) for state in queues], title="Tasks waiting per queue"
        ),
        "queue_age_chart": charts.bar_chart(
            [(state.name, round(state.oldest_age_seconds or 0, 1)) for state in queues],
            title="Oldest waiting task (seconds)", unit=" s",
            limit=settings.ALERT_QUEUE_AGE_SECONDS,
        ),
        "sockets_chart": charts.bar_chart(
            [(f"pid {pid}", count) for pid, count in sorted(data["sockets"].items())],
            title="Open sockets per web process",
            limit=settings.WEBSOCKET_BUDGET_PER_PROCESS,
        ),
        "sockets_total": sum(data["sockets"].values()),
        "refresh_seconds": DASHBOARD_REFRESH_SECONDS,
    }


DASHBOARD_REFRESH_SECONDS = 10
AVERAGE_MINUTES = 10


@require_GET
@staff_member_required
def dashboard_view(request):
    """The operations page in the admin; refreshes its body over HTMX."""
    template = "operations/dashboard.html"
    if request.htmx:
        template += "#dashboard"
    return TemplateResponse(request, template, _dashboard_context(request))
