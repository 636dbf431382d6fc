"""The bound on what may wait for a WebSocket client to read (config.websocket_backpressure),
against the pinned twisted and daphne: the unsent bytes are read from twisted's write buffer,
and a frame past the bound is dropped, counted and closes the connection. The whole path through
a real server and a client that never reads is tests/chaos/test_slow_client.py."""

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


def test_a_frame_past_the_bound_is_dropped_counted_and_closes_the_socket(
    settings, caplog, db
):
    settings.WEBSOCKET_SEND_BUFFER_BYTES = 100
    operator = staff_client()
    before = scrape(operator)
    protocol = BoundedSendProtocol()
    protocol.client_addr = ["127.0.0.1", 5000]
    protocol.path = b"/ws/notifications/"
    protocol.transport = peer = _SlowPeer(reactor=_Reactor())
    sent = []
    protocol.sendMessage = lambda payload, binary: sent.append(payload) or peer.write(payload)
    protocol.state = protocol.STATE_OPEN

    protocol.serverSend("a" * 150)  # the buffer was empty: it goes
    protocol.serverSend('<div id="notification-7">')  # 150 unsent > 100: dropped, closed
    protocol.serverSend('<div id="notification-8">')  # still before the disconnect: dropped

    assert sent == [b"a" * 150]
    assert peer.aborted
    after = scrape(operator)
    assert value(after, "herald_websocket_frames_dropped_total") - value(
        before, "herald_websocket_frames_dropped_total") == 2
    assert value(after, "herald_websocket_slow_closed_total") - value(
        before, "herald_websocket_slow_closed_total") == 1
    [record] = [r for r in caplog.records if r.name == websocket_backpressure.__name__]
    assert record.levelname == "WARNING"
    assert "150 bytes unsent" in record.getMessage() and "[7]" in record.getMessage()
