"""The delivery fixtures (local provider servers, VAPID keys, browser keys) serve here too."""

from tests.delivery.conftest import (  # noqa: F401
    browser_keys,
    provider_server,
    reader_client,
    second_provider_server,
    vapid,
)
