"""How dirt reaches people and services: e-mail, HTTP POSTs, commit statuses.

Each function sends one message and returns, or raises :class:`DeliveryError`
saying whether trying again could help (``permanent`` is False for a server
that is down, slow, or answered 5xx / 408 / 429 / SMTP 4xx). Nothing here
retries, queues or decides what to send: that is :mod:`dirt.notify`.

Secrets stay out of messages: SMTP passwords and API tokens are never put in
an exception, a URL or a log line, and webhook URLs (which often embed a
secret) are only ever named by their host.
"""
from __future__ import annotations

import re
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Mapping, Sequence
from urllib.parse import quote, urlsplit

import httpx

from . import __version__
from .errors import DirtError

USER_AGENT = f"dirt/{__version__}"
COMMIT_STATUS_APIS = {"github": "https://api.github.com", "gitlab": "https://gitlab.com/api/v4"}
COMMIT_STATUS_TOKEN_ENVS = {"github": "GITHUB_TOKEN", "gitlab": "GITLAB_TOKEN"}

# Outcome of a record (see dirt.notify.RecordSummary) -> each service's status state.
_STATUS_STATES = {
    "github": {"passed": "success", "failed": "failure", "error": "error", "cancelled": "error", "skipped": "error"},
    "gitlab": {"passed": "success", "failed": "failed", "error": "failed", "cancelled": "canceled",
               "skipped": "skipped"},
}

# E-mail to SMS gateways of US carriers, as the 2012 yelling knew them (updated
# names). Most carriers have since closed these gateways (AT&T in 2025,
# T-Mobile/Sprint in 2024, Alltel and Nextel no longer exist); mail to them is
# accepted by your SMTP server and then silently goes nowhere.
SMS_GATEWAYS = {
    "alltel": "message.alltel.com",
    "att": "txt.att.net",
    "boost": "sms.myboostmobile.com",
    "cricket": "sms.cricketwireless.net",
    "googlefi": "msg.fi.google.com",
    "metropcs": "mymetropcs.com",
    "nextel": "messaging.nextel.com",
    "sprint": "messaging.sprintpcs.com",
    "tmobile": "tmomail.net",
    "uscellular": "email.uscc.net",
    "verizon": "vtext.com",
    "virgin": "vmobl.com",
}


class DeliveryError(DirtError):
    """A notification could not be delivered; ``permanent``: retrying cannot help."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send mail. The password never shows in a repr."""

    server: str = "localhost"
    port: int = 25
    starttls: bool = False
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 10.0
    sender: str = ""

    @classmethod
    def from_settings(cls, settings: Any, environ: Mapping[str, str]) -> "SmtpConfig":
        """From a project's Settings, the login from DIRT_SMTP_USER / DIRT_SMTP_PASSWORD."""
        return cls(server=settings.smtp_server, port=settings.smtp_port, starttls=settings.smtp_starttls,
                   user=environ.get("DIRT_SMTP_USER") or None, password=environ.get("DIRT_SMTP_PASSWORD"),
                   timeout=settings.notify_timeout, sender=settings.smtp_sender)

    @property
    def where(self) -> str:
        return f"{self.server}:{self.port}"


def default_sender() -> str:
    return f"dirt@{socket.gethostname()}"


def _one_line(text: str, limit: int = 200) -> str:
    """Header-safe text: no line breaks (they would let a task name inject headers)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def send_email(recipients: Sequence[str], subject: str, body: str, *, smtp: SmtpConfig,
               sender: str | None = None) -> dict[str, tuple[int, bytes]]:
    """Send a plain-text e-mail through ``smtp`` (STARTTLS and login if configured).

    Returns the recipients the server refused while accepting others (a
    delivery all the same); every recipient refused, or the server failing,
    raises DeliveryError.
    """
    recipients = [r for r in recipients if r]
    if not recipients:
        raise DeliveryError("no recipients", permanent=True)
    msg = EmailMessage()
    msg["From"] = sender or smtp.sender or default_sender()
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = _one_line(subject)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=socket.gethostname().split(".")[0] or "dirt")
    msg["User-Agent"] = USER_AGENT
    msg.set_content(body)
    try:
        with smtplib.SMTP(smtp.server, smtp.port, timeout=smtp.timeout) as conn:
            if smtp.starttls:
                conn.starttls(context=ssl.create_default_context())
            if smtp.user:
                conn.login(smtp.user, smtp.password or "")
            return conn.send_message(msg, to_addrs=recipients)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise DeliveryError(f"SMTP server {smtp.where} refused every recipient ({', '.join(exc.recipients)})",
                            permanent=all(500 <= c < 600 for c in codes)) from None
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        raise DeliveryError(f"SMTP server {smtp.where} answered {exc.smtp_code} {_one_line(text)}",
                            permanent=500 <= exc.smtp_code < 600) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"cannot send mail through {smtp.where}: {_one_line(str(exc)) or type(exc).__name__}") \
            from None


def sms_address(phone: str, carrier: str) -> str:
    """The e-mail address of ``phone``'s SMS gateway at ``carrier`` (a name from SMS_GATEWAYS)."""
    domain = SMS_GATEWAYS.get(str(carrier).lower())
    if domain is None:
        raise DeliveryError(f"unknown carrier {carrier!r}; known: {', '.join(sorted(SMS_GATEWAYS))}", permanent=True)
    digits = re.sub(r"\D", "", str(phone))
    if not digits:
        raise DeliveryError(f"{phone!r} is not a phone number", permanent=True)
    return f"{digits}@{domain}"


def url_host(url: str) -> str:
    """``scheme://host:port`` of ``url``: how a URL that may carry a secret is named in messages."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def post(url: str, *, what: str, timeout: float, secret: str | None = None, **kwargs: Any) -> httpx.Response:
    """POST to ``url``; the response if it is 2xx, else DeliveryError.

    ``what`` names the request in errors; ``secret`` (a token sent in a
    header) is masked should the server echo it back.
    """
    headers = {"User-Agent": USER_AGENT, **kwargs.pop("headers", {})}
    try:
        resp = httpx.post(url, headers=headers, timeout=timeout, follow_redirects=False, **kwargs)
    except httpx.TimeoutException:
        raise DeliveryError(f"{what}: no answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{what}: {type(exc).__name__}: {_one_line(str(exc))}") from None
    if 200 <= resp.status_code < 300:
        return resp
    body = _one_line(resp.text)
    if secret:
        body = body.replace(secret, "***")
    transient = resp.status_code >= 500 or resp.status_code in (408, 429)
    raise DeliveryError(f"{what}: HTTP {resp.status_code} {body}".rstrip(), permanent=not transient)


def post_form(url: str, params: Mapping[str, Any], timeout: float = 10.0) -> httpx.Response:
    """POST ``params`` as an HTML form (application/x-www-form-urlencoded)."""
    return post(url, what=f"POST to {url_host(url)}", timeout=timeout, data=dict(params))


def post_json(url: str, body: Any, timeout: float = 10.0, headers: Mapping[str, str] | None = None) -> httpx.Response:
    """POST ``body`` as JSON."""
    return post(url, what=f"webhook {url_host(url)}", timeout=timeout, json=body, headers=dict(headers or {}))


# A repository is owner/name (GitHub) or a numeric id or group/.../name (GitLab);
# strict, because it becomes part of a URL path sent with our token.
_REPO_PART = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
_GITHUB_REPO = re.compile(rf"^{_REPO_PART}/{_REPO_PART}$")
_GITLAB_REPO = re.compile(rf"^(\d+|{_REPO_PART}(/{_REPO_PART})+)$")
_SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")


def repository_path(service: str, repository: Any) -> str | None:
    """``repository`` as the service names it (``owner/name``), or None if it is not one.

    Accepts web and clone URLs too (``https://github.com/owner/name.git``).
    """
    if not isinstance(repository, (str, int)) or isinstance(repository, bool):
        return None
    text = str(repository).strip()
    if text.startswith(("http://", "https://", "ssh://")):
        text = urlsplit(text).path
    elif re.match(r"^[\w.-]+@[\w.-]+:", text):       # git@github.com:owner/name.git
        text = text.split(":", 1)[1]
    text = text.strip("/")
    if text.endswith(".git"):
        text = text[:-4]
    rule = _GITHUB_REPO if service == "github" else _GITLAB_REPO
    if not rule.match(text) or any(part in (".", "..") for part in text.split("/")):
        return None
    return text


def valid_sha(sha: Any) -> bool:
    return isinstance(sha, str) and bool(_SHA.match(sha))


def status_state(service: str, outcome: str) -> str:
    """The commit status state ``service`` uses for a record's outcome."""
    return _STATUS_STATES[service].get(outcome, "error" if service == "github" else "failed")


def post_commit_status(service: str, api: str, repository: str, sha: str, *, state: str, description: str,
                       target_url: str, context: str, token: str, timeout: float = 10.0) -> httpx.Response:
    """Set a commit status on GitHub (``POST /repos/OWNER/NAME/statuses/SHA``) or
    GitLab (``POST /projects/ID/statuses/SHA``). The token goes in a header only."""
    repo = repository_path(service, repository)
    if repo is None or not valid_sha(sha):
        raise DeliveryError(f"not a {service} repository and commit: {repository!r} {sha!r}", permanent=True)
    api = (api or COMMIT_STATUS_APIS[service]).rstrip("/")
    what = f"{service} commit status for {repo}@{sha[:12]}"
    if service == "github":
        return post(f"{api}/repos/{repo}/statuses/{sha}", what=what, timeout=timeout, secret=token,
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                             "X-GitHub-Api-Version": "2022-11-28"},
                    json={"state": state, "description": _one_line(description, 140), "context": context,
                          "target_url": target_url})
    if service == "gitlab":
        return post(f"{api}/projects/{quote(repo, safe='')}/statuses/{sha}", what=what, timeout=timeout,
                    secret=token, headers={"PRIVATE-TOKEN": token},
                    params={"state": state, "name": context, "target_url": target_url,
                            "description": _one_line(description, 255)})
    raise DeliveryError(f"unknown commit status service {service!r}", permanent=True)
