"""HTTP request latency per view (``herald_http_request_duration_seconds``)."""

import time

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from operations import metrics


def _view_name(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unresolved"  # 404s on unknown paths: one label, not one per scanned URL
    return match.view_name or match.route or "unnamed"


class RequestMetricsMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def _record(self, request, response, started: float) -> None:
        metrics.http_request(
            view=_view_name(request),
            method=request.method,
            status=response.status_code,
            seconds=time.perf_counter() - started,
        )

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        started = time.perf_counter()
        response = self.get_response(request)
        self._record(request, response, started)
        return response

    async def __acall__(self, request):
        started = time.perf_counter()
        response = await self.get_response(request)
        self._record(request, response, started)
        return response
