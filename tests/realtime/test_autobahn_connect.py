"""The contract ``config.autobahn_connect`` relies on in the installed autobahn: the version it
was written against, the per-connection ``pformat`` call it defuses, and that a connection no
longer pretty-prints unless debug logging is on. An upgrade of autobahn fails here first: read
the new ``WebSocketProtocol._connectionMade`` and keep or drop the adapter."""

import inspect
import pprint
from importlib.metadata import version

import pytest
import txaio
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket import protocol

from config import autobahn_connect


def test_the_installed_autobahn_is_the_version_the_adapter_was_written_for():
    assert version("autobahn") == autobahn_connect.PINNED_VERSION


def test_every_connection_still_formats_its_options_with_the_module_pformat():
    source = inspect.getsource(protocol.WebSocketProtocol._connectionMade)
    assert 'self.log.debug("\\n{attrs}", attrs=pformat(configAttrLog))' in source


@pytest.fixture
def pformat_calls(monkeypatch):
    calls = []
    real = pprint.pformat

    def counting(obj, *args, **kwargs):
        calls.append(obj)
        return real(obj, *args, **kwargs)

    monkeypatch.setattr(autobahn_connect.pprint, "pformat", counting)
    monkeypatch.setattr(protocol, "pformat", protocol.pformat)  # restored after the test
    autobahn_connect.install()
    yield calls
    txaio.set_global_log_level("info")


def _connect() -> WebSocketServerProtocol:
    connection = WebSocketServerProtocol()
    connection.factory = WebSocketServerFactory()
    connection._connectionMade()
    return connection


def test_a_connection_pretty_prints_its_options_only_while_debug_is_logged(pformat_calls):
    assert txaio.get_global_log_level() == "info"
    connection = _connect()
    assert pformat_calls == []
    assert connection.openHandshakeTimeout == connection.factory.openHandshakeTimeout

    txaio.set_global_log_level("debug")
    _connect()
    assert len(pformat_calls) == 1
