"""Which web push endpoints Herald will POST to.

A push endpoint is a URL the browser (or anyone with an account) hands over, and the worker then
sends requests to it: without a check it is a way to make the worker call internal services
(Redis on loopback, the cloud metadata address) or to stall every delivery with slow hosts.
An endpoint is accepted only when its host is one of ``WEBPUSH_ALLOWED_HOSTS`` (the real push
services by default) and none of the addresses it resolves to is loopback, private, link-local
or otherwise not globally routable. The check runs when the subscription is saved and again
before every send (DNS can change in between).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class EndpointRefused(ValueError):
    """The endpoint is not one Herald sends to; the message says why."""


class EndpointUnresolved(Exception):
    """The endpoint's host does not resolve right now (worth retrying later)."""


def host_allowed(host: str) -> bool:
    """``host`` matches ``WEBPUSH_ALLOWED_HOSTS``: an exact name, or ``.example.com`` for that
    domain and every name under it."""
    host = host.lower().rstrip(".")
    for allowed in settings.WEBPUSH_ALLOWED_HOSTS:
        allowed = allowed.lower().rstrip(".")
        if allowed.startswith("."):
            if host == allowed[1:] or host.endswith(allowed):
                return True
        elif host == allowed:
            return True
    return False


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _addresses(host: str, port: int) -> list[str]:
    try:
        return [ipaddress.ip_address(host).compressed]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return [info[4][0] for info in infos]


def check_push_endpoint(endpoint: str, *, require_resolution: bool) -> None:
    """Raise ``EndpointRefused`` unless Herald may POST to ``endpoint``.

    ``require_resolution``: at send time a name that does not resolve raises
    ``EndpointUnresolved`` (retried later); at save time it is let through, as a short DNS outage
    must not stop a browser from subscribing, and the send-time check covers it.
    """
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if not host:
        raise EndpointRefused("the endpoint has no host")
    if not host_allowed(host):
        raise EndpointRefused(f"{host} is not a known push service (WEBPUSH_ALLOWED_HOSTS)")
    if settings.WEBPUSH_ALLOW_PRIVATE_ADDRESSES:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise EndpointRefused("the endpoint's port is not a number") from None
    addresses = _addresses(host, port)
    if not addresses and require_resolution:
        raise EndpointUnresolved(f"{host} does not resolve")
    for address in addresses:
        if not _public(address):
            raise EndpointRefused(f"{host} resolves to a non-public address ({address})")
