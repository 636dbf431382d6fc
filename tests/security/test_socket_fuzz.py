"""Property-based fuzzing of the notification socket's frames (Hypothesis).

Whatever a client sends, the consumer answers with a fragment or closes with a defined code,
never with an uncaught exception, and a socket of the same user opened beside it keeps working.
"""

import json

import pytest
from asgiref.sync import sync_to_async
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from .sockets import logged_in, notify_one, socket

pytestmark = pytest.mark.django_db(transaction=True)

ALLOWED_CLOSE_CODES = {1003, 1007, 1008, 1009, 4401}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
frames = st.one_of(
    st.binary(min_size=1, max_size=300).map(lambda data: {"bytes_data": data}),
    st.text(min_size=1, max_size=300).map(lambda text: {"text_data": text}),
    json_values.map(lambda value: {"text_data": json.dumps(value)}),
    st.fixed_dictionaries(
        {"action": st.sampled_from(["catch_up", "CATCH_UP", "mark_read", ""]), "last_id": json_values}
    ).map(lambda value: {"text_data": json.dumps(value)}),
    st.integers(60 * 1024, 200 * 1024).map(lambda size: {"text_data": "x" * size}),
    st.integers(1, 40_000).map(lambda depth: {"text_data": "[" * depth + "]" * depth}),
)


@pytest.fixture
def member(settings):
    settings.NOTIFICATIONS_RATE_LIMIT_COUNT = 1000  # every example's notification is toasted
    user, _, cookie = logged_in()
    return user, cookie


@hypothesis_settings(
    max_examples=25, deadline=None, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frame=frames)
async def test_a_fuzzed_frame_is_answered_or_closed_with_a_defined_code_and_spares_the_neighbour(
    member, frame
):
    user, cookie = member
    ws, neighbour = socket(cookie), socket(cookie)
    assert (await ws.connect(timeout=10))[0] and (await neighbour.connect(timeout=10))[0]

    await ws.send_to(**frame)
    answer = await ws.receive_output(timeout=10)  # re-raises what the consumer raised

    if answer["type"] == "websocket.close":
        assert answer["code"] in ALLOWED_CLOSE_CODES
    else:
        assert answer["type"] == "websocket.send" and "notification-badge" in answer["text"]
    notification_id = await sync_to_async(notify_one)(user)
    assert f"notification-{notification_id}" in await neighbour.receive_from(timeout=10)
    await ws.disconnect()
    await neighbour.disconnect()
