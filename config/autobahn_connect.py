"""Autobahn's per-connection dump of its options, pretty-printed only when it is logged.

On every new connection autobahn's ``WebSocketProtocol._connectionMade`` (autobahn 26.11.1,
daphne's WebSocket implementation) builds a debug line: ``self.log.debug("\\n{attrs}",
attrs=pformat(configAttrLog))`` over its 29 options. At txaio's default level ("info") the call
is a no-op, but its argument is evaluated first: ``pprint.pformat`` costs 0.3-0.45 ms of CPU per
handshake here, 16-18 % of a web process's CPU in a reconnect storm. Neither autobahn nor daphne
has an option that skips it. ``install`` gives that one module a ``pformat`` that pretty-prints
while txaio logs at debug level and otherwise returns ``repr`` (a tenth of the cost, the same
content; the module's other caller, ``Timings.__str__``, still gets a string).

tests/realtime/test_autobahn_connect.py holds the contract: the pinned version, the call in
``_connectionMade``, and that a connection no longer pretty-prints; an upgrade fails there first.
"""

import pprint

import txaio
from autobahn.websocket import protocol

PINNED_VERSION = "26.11.1"
DEBUG_LEVELS = frozenset({"debug", "trace"})


def pformat_when_logged(obj, *args, **kwargs) -> str:
    if txaio.get_global_log_level() in DEBUG_LEVELS:
        return pprint.pformat(obj, *args, **kwargs)
    return repr(obj)


def install() -> None:
    """Swap autobahn's per-connection ``pformat`` (call before daphne runs)."""
    protocol.pformat = pformat_when_logged
