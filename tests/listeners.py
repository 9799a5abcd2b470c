"""Real local servers that notifications go to: SMTP (aiosmtpd) and HTTP (http.server).

Both record what they receive, so tests can assert on every message, header
and body, and both can be told to fail or be slow the way real ones are.
"""
from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from servers import free_port


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        return self.message.get_body(("plain",)).get_content().replace("\r\n", "\n")


class SmtpSink:
    """An aiosmtpd server on a loopback port that keeps every message.

    ``answer`` (e.g. ``"451 4.3.0 try later"``) makes it refuse every message
    with that reply; ``attempts`` counts the DATA commands it saw either way.
    ``login`` requires AUTH with that (user, password); ``tls_context`` offers
    (and requires) STARTTLS.
    """

    def __init__(self, answer: str | None = None, login: tuple[str, str] | None = None, tls_context=None):
        self.mails: list[Mail] = []
        self.attempts = 0
        self.answer = answer
        self.logins: list[tuple[str, str]] = []
        self.port = free_port()
        kwargs = {}
        if login:
            kwargs.update(authenticator=self._authenticate, auth_required=True,
                          auth_require_tls=tls_context is not None)
        if tls_context:
            kwargs.update(tls_context=tls_context, require_starttls=True)
        self._login = login
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        user = auth_data.login.decode()
        password = auth_data.password.decode()
        self.logins.append((user, password))
        return AuthResult(success=(user, password) == self._login, handled=False)

    async def handle_DATA(self, server, session, envelope):
        self.attempts += 1
        if self.answer:
            return self.answer
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def __enter__(self) -> "SmtpSink":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def json(self):
        return json.loads(self.body)

    def form(self) -> dict:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


class HttpSink:
    """An HTTP server on a loopback port recording every POST.

    ``statuses``: the status to answer each request with, in turn (then 200);
    ``delay``: seconds to sleep before answering (a slow webhook).
    """

    def __init__(self, statuses: list[int] | None = None, delay: float = 0.0):
        self.requests: list[Request] = []
        self.statuses = list(statuses or [])
        self.delay = delay
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                url = urlsplit(self.path)
                sink.requests.append(Request("POST", url.path, {k: v[0] for k, v in parse_qs(url.query).items()},
                                             {k.lower(): v for k, v in self.headers.items()}, body))
                if sink.delay:
                    time.sleep(sink.delay)
                status = sink.statuses.pop(0) if sink.statuses else 200
                reply = json.dumps({"ok": status < 400}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:
                    pass    # the client gave up waiting

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "HttpSink":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
