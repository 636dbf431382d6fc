"""The VAPID key pair web push is signed with.

Production takes it from the environment (``VAPID_PUBLIC_KEY`` / ``VAPID_PRIVATE_KEY``). Without
them, and with ``VAPID_KEY_FILE`` set (the embedded default), a pair is generated the first time
it is needed and kept in that file, so ``make run`` can subscribe a browser with nothing
configured and keeps its subscriptions valid across restarts.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from py_vapid import Vapid, b64urlencode

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_loaded: dict[str, tuple[str, str]] = {}


def generate_pair() -> tuple[str, str]:
    """A new (public, private) pair: the uncompressed P-256 point and the raw private scalar,
    both base64url, as browsers and pywebpush take them."""
    key = Vapid()
    key.generate_keys()
    private = key.private_key.private_numbers().private_value.to_bytes(32, "big")
    public = key.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64urlencode(public), b64urlencode(private)


def _from_file(path: str) -> tuple[str, str]:
    with _lock:
        if path in _loaded:
            return _loaded[path]
        file = Path(path)
        try:
            data = json.loads(file.read_text())
            pair = (data["public_key"], data["private_key"])
        except FileNotFoundError:
            pair = generate_pair()
            file.parent.mkdir(parents=True, exist_ok=True)
            # Written aside and renamed: another process never reads half a file; the first
            # rename wins and everybody reads its pair.
            tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump({"public_key": pair[0], "private_key": pair[1]}, out)
            try:
                os.link(tmp, file)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
            data = json.loads(file.read_text())
            pair = (data["public_key"], data["private_key"])
            logger.info("Web push: generated a VAPID key pair in %s", file)
        _loaded[path] = pair
        return pair


def keys() -> tuple[str, str]:
    """(public, private); empty strings when web push is not configured."""
    if settings.VAPID_PUBLIC_KEY or settings.VAPID_PRIVATE_KEY:
        return settings.VAPID_PUBLIC_KEY, settings.VAPID_PRIVATE_KEY
    if settings.VAPID_KEY_FILE:
        return _from_file(settings.VAPID_KEY_FILE)
    return "", ""


def public_key() -> str:
    return keys()[0]


def private_key() -> str:
    return keys()[1]
