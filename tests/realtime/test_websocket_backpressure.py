"""The bound on what may wait for a WebSocket client to read (config.websocket_backpressure),
against the pinned twisted and daphne: the unsent bytes are read from twisted's write buffer,
and a frame past the bound is dropped, counted and closes the connection. The whole path through
a real server and a client that never reads is tests/chaos/test_slow_client.py."""

import pytest
from twisted.internet import tcp
from twisted.internet.abstract import FileDescriptor

from config import websocket_backpressure
from config.websocket_backpressure import BoundedSendProtocol, unsent_bytes
from tests.operations.helpers import scrape, staff_client, value


class _Reactor:
    def addWriter(self, _):
        pass

    def removeWriter(self, _):
        pass


class _SlowPeer(FileDescriptor):
    """A transport whose kernel takes only ``room`` more bytes."""

    connected = 1
    room = 0
    aborted = False

    def writeSomeData(self, data):
        taken = min(len(data), self.room)
        self.room -= taken
        return taken

    def abortConnection(self):
        self.aborted = True


def test_unsent_bytes_follow_twisteds_write_buffer():
    assert issubclass(tcp.Server, FileDescriptor)  # what daphne's sockets are written through
    peer = _SlowPeer(reactor=_Reactor())
    assert unsent_bytes(peer) == 0
    for _ in range(3):
        peer.write(b"x" * 1000)
    assert unsent_bytes(peer) == 3000
    peer.room = 1500
    peer.doWrite()
    assert unsent_bytes(peer) == 1500
    peer.write(b"y" * 10)
    assert unsent_bytes(peer) == 1510


class _Wrapper:  # twisted.protocols.policies.ProtocolWrapper keeps the real one here
    def __init__(self, transport):
        self.transport = transport


def test_unsent_bytes_look_through_a_protocol_wrapper():
    peer = _SlowPeer(reactor=_Reactor())
    peer.write(b"x" * 10)
    assert unsent_bytes(_Wrapper(peer)) == 10
    assert unsent_bytes(object()) == 0


class _Timer:
    def __init__(self, seconds, function):
        self.seconds, self.function, self.cancelled = seconds, function, False

    def active(self):
        return not self.cancelled

    def cancel(self):
        self.cancelled = True


def _socket(settings, limit=100, stall=1):
    settings.WEBSOCKET_SEND_BUFFER_BYTES = limit
    settings.WEBSOCKET_SEND_STALL_SECONDS = stall
    protocol = BoundedSendProtocol()
    protocol.client_addr = ["127.0.0.1", 5000]
    protocol.path = b"/ws/notifications/"
    protocol.transport = peer = _SlowPeer(reactor=_Reactor())
    protocol.sent = []
    protocol.sendMessage = (
        lambda payload, binary: protocol.sent.append(payload) or peer.write(payload)
    )
    protocol.state = protocol.STATE_OPEN
    protocol.timers = []
    protocol._call_later = lambda seconds, function: protocol.timers.append(
        _Timer(seconds, function)) or protocol.timers[-1]
    return protocol, peer


@pytest.fixture
def operator(db):
    return staff_client()


def _moved(operator, before, name):
    return value(scrape(operator), name) - value(before, name)


def test_a_burst_past_four_times_the_bound_is_dropped_counted_and_closes_the_socket(
    settings, caplog, operator
):
    before = scrape(operator)
    protocol, peer = _socket(settings)
    protocol.serverSend("a" * 150)  # the buffer was empty: it goes
    protocol.serverSend("b" * 100)  # 150 unsent, over the bound: goes, and the stall is timed
    protocol.serverSend("c" * 200)  # 250 unsent: goes
    protocol.serverSend('<div id="notification-7">')  # 450 > 4 x 100: dropped, closed
    protocol.serverSend('<div id="notification-8">')  # still before the disconnect: dropped

    assert protocol.sent == [b"a" * 150, b"b" * 100, b"c" * 200]
    assert peer.aborted
    assert [timer.seconds for timer in protocol.timers] == [1]
    assert protocol.timers[0].cancelled
    # The three unsent frames and the two refused ones.
    assert _moved(operator, before, "herald_websocket_frames_dropped_total") == 5
    assert _moved(operator, before, "herald_websocket_bytes_dropped_total") == 450 + 25 + 25
    assert _moved(operator, before, "herald_websocket_slow_closed_total") == 1
    [record] = [r for r in caplog.records if r.name == websocket_backpressure.__name__]
    assert record.levelname == "WARNING"
    assert "450 bytes unsent" in record.getMessage() and "[7]" in record.getMessage()


def test_a_socket_still_over_the_bound_when_the_stall_is_up_is_closed(settings, operator):
    before = scrape(operator)
    protocol, peer = _socket(settings)
    protocol.serverSend("a" * 150)
    protocol.serverSend("b" * 10)  # over the bound: the stall is timed
    [timer] = protocol.timers
    timer.function()  # the client read nothing meanwhile
    assert peer.aborted
    assert _moved(operator, before, "herald_websocket_frames_dropped_total") == 2
    assert _moved(operator, before, "herald_websocket_slow_closed_total") == 1


def test_a_burst_the_client_reads_within_the_stall_costs_it_nothing(settings, operator):
    before = scrape(operator)
    protocol, peer = _socket(settings)
    protocol.serverSend("a" * 150)
    protocol.serverSend("b" * 10)
    peer.room = 1000
    peer.doWrite()  # the client read it all
    protocol.timers[0].function()
    protocol.serverSend("c" * 10)
    assert not peer.aborted and len(protocol.sent) == 3
    assert _moved(operator, before, "herald_websocket_frames_dropped_total") == 0


@pytest.mark.parametrize("state", ["STATE_CLOSING", "STATE_CLOSED"])
def test_a_frame_for_a_socket_whose_client_has_left_is_counted_not_raised(
    settings, operator, state
):
    """A fan-out can reach a socket after its client went and before daphne has told the
    application: autobahn's own ``sendMessage`` (not replaced here) refuses the frame, which must
    not become an error in the sender."""
    before = scrape(operator)
    protocol, peer = _socket(settings)
    del protocol.sendMessage  # the real one, which raises Disconnected when not open
    protocol.state = getattr(protocol, state)
    assert protocol.serverSend('<div id="notification-9">') is None
    assert peer.dataBuffer == b"" and not peer.aborted
    assert _moved(operator, before, "herald_websocket_frames_dropped_total") == 1
    assert _moved(operator, before, "herald_websocket_slow_closed_total") == 0
