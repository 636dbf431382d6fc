"""A real SMTP server on 127.0.0.1 (enough of RFC 5321 for smtplib) for tests that send email:
it records what it accepted and can refuse recipients, be slow, or stall on purpose."""

from __future__ import annotations

import re
import socketserver
import threading
import time
from collections import Counter


class SmtpServer:
    """``messages``: (sender, recipients, data) of every accepted message; ``accepted``:
    (recipient, Message-ID) pairs. Recipients in ``refuse`` get ``550`` at RCPT TO; ``delay``
    seconds pass before each ``250`` after DATA; the next ``stall_next`` messages get no answer
    after DATA at all (the client must time out), counted in ``stalled``."""

    def __init__(self):
        self.connections = 0
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.accepted: list[tuple[str, str]] = []
        self.refuse: set[str] = set()
        self.delay = 0.0
        self.stall_next = 0
        self.stalled = 0
        self._lock = threading.Lock()
        self._release = threading.Event()
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str):
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self):
                with server._lock:
                    server.connections += 1
                self.reply("220 herald-test ESMTP")
                sender, recipients = "", []
                while line := self.rfile.readline():
                    command = line.decode(errors="replace").strip()
                    verb = command[:4].upper()
                    if verb in ("EHLO", "HELO"):
                        self.reply("250 herald-test")
                    elif verb == "MAIL":
                        sender, recipients = command.split(":", 1)[1].strip(" <>"), []
                        self.reply("250 OK")
                    elif verb == "RCPT":
                        address = command.split(":", 1)[1].strip(" <>")
                        if address in server.refuse:
                            self.reply("550 No such user")
                        else:
                            recipients.append(address)
                            self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 End data with <CR><LF>.<CR><LF>")
                        data = b""
                        while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                            data += chunk
                        if server._take_stall():
                            server._release.wait(60)  # took the bytes, never answers
                            return
                        if server.delay:
                            time.sleep(server.delay)
                        server._accept(sender, recipients, data)
                        self.reply("250 OK queued")
                    elif verb == "QUIT":
                        self.reply("221 Bye")
                        return
                    else:  # RSET, NOOP
                        self.reply("250 OK")

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _take_stall(self) -> bool:
        with self._lock:
            if self.stall_next <= 0:
                return False
            self.stall_next -= 1
            self.stalled += 1
            return True

    def _accept(self, sender: str, recipients: list[str], data: bytes) -> None:
        found = re.search(rb"^Message-ID:\s*(\S+)", data, re.M | re.I)
        message_id = found.group(1).decode() if found else ""
        with self._lock:
            self.messages.append((sender, recipients, data))
            self.accepted.extend((recipient, message_id) for recipient in recipients)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def env(self) -> dict[str, str]:
        """Environment for a Herald process that sends its email here."""
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(self.port),
        }

    def count(self) -> int:
        with self._lock:
            return len(self.accepted)

    def per_recipient(self) -> Counter:
        with self._lock:
            return Counter(recipient for recipient, _ in self.accepted)

    def distinct_per_recipient(self) -> Counter:
        """Messages per recipient counting one Message-ID once (what a mailbox shows)."""
        with self._lock:
            return Counter(recipient for recipient, _ in set(self.accepted))

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
