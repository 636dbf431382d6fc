"""``/metrics`` (Prometheus text format) and ``/health/status`` (JSON for monitors)."""

from asgiref.sync import sync_to_async
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from config.health import readiness
from operations import collectors, metrics, selectors
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
