"""The client address that throttles count by (django-ratelimit's ``key``)."""


def remote_addr(group, request) -> str:
    """The socket's peer (``REMOTE_ADDR``), never ``X-Forwarded-For``, which the client writes.

    A server may give no address at all (a Unix socket, some test clients): those requests
    share one bucket instead of failing.
    """
    return request.META.get("REMOTE_ADDR") or "unknown"
